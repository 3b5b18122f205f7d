//! The simulated estate: one loopback HTTP server playing every service the shipped
//! workflows call, with realistic latency, transient faults, hangs and idempotency keys.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::services::{self, Answer, Bounded, Reply, Sim};

/// The knobs of the estate. Change them live with [`Estate::set_options`].
#[derive(Debug, Clone, PartialEq)]
pub struct EstateOptions {
    /// Multiplies every simulated latency: 1.0 is realistic, 0.0 answers at once.
    pub latency_scale: f64,
    /// Chance per call of a transient failure (500, 502, 503, 504 or 429), which the
    /// engine retries.
    pub error_rate: f64,
    /// Chance per call that the answer is held back for `hang`.
    pub hang_rate: f64,
    /// How long a hung call is held; longer than every step timeout of the shipped
    /// workflows (the longest is 45 s), so hung attempts time out.
    pub hang: Duration,
    /// Chance per call (where the service has such a notion) of a business refusal no
    /// retry fixes: a duplicate customer (409), a declined card or payment (402), an
    /// unreadable invoice (422).
    pub reject_rate: f64,
}

impl Default for EstateOptions {
    fn default() -> Self {
        EstateOptions {
            latency_scale: 1.0,
            error_rate: 0.03,
            hang_rate: 0.005,
            hang: Duration::from_secs(75),
            reject_rate: 0.01,
        }
    }
}

impl EstateOptions {
    /// No latency, no faults, no refusals: every call answers at once and succeeds.
    pub fn instant() -> Self {
        EstateOptions {
            latency_scale: 0.0,
            error_rate: 0.0,
            hang_rate: 0.0,
            reject_rate: 0.0,
            ..EstateOptions::default()
        }
    }
}

/// The services the estate plays, each under its own path prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Crm,
    Provisioning,
    Mail,
    Billing,
    Ocr,
    Agent,
    Bank,
    Monitor,
    Deploy,
    Pager,
}

impl Service {
    pub const ALL: [Service; 10] = [
        Service::Crm,
        Service::Provisioning,
        Service::Mail,
        Service::Billing,
        Service::Ocr,
        Service::Agent,
        Service::Bank,
        Service::Monitor,
        Service::Deploy,
        Service::Pager,
    ];

    /// The path prefix, without slashes: `crm`.
    pub fn prefix(self) -> &'static str {
        match self {
            Service::Crm => "crm",
            Service::Provisioning => "provisioning",
            Service::Mail => "mail",
            Service::Billing => "billing",
            Service::Ocr => "ocr",
            Service::Agent => "agent",
            Service::Bank => "bank",
            Service::Monitor => "monitor",
            Service::Deploy => "deploy",
            Service::Pager => "pager",
        }
    }

    /// The environment variable the workflows read its base URL from: `CRM_URL`.
    pub fn env_var(self) -> &'static str {
        match self {
            Service::Crm => "CRM_URL",
            Service::Provisioning => "PROVISIONING_URL",
            Service::Mail => "MAIL_URL",
            Service::Billing => "BILLING_URL",
            Service::Ocr => "OCR_URL",
            Service::Agent => "AGENT_URL",
            Service::Bank => "BANK_URL",
            Service::Monitor => "MONITOR_URL",
            Service::Deploy => "DEPLOY_URL",
            Service::Pager => "PAGER_URL",
        }
    }

    /// Typical answer time at latency scale 1.
    fn median_ms(self) -> f64 {
        match self {
            Service::Crm => 70.0,
            Service::Provisioning => 700.0,
            Service::Mail => 120.0,
            Service::Billing => 180.0,
            Service::Ocr => 450.0,
            Service::Agent => 800.0,
            Service::Bank => 250.0,
            Service::Monitor => 40.0,
            Service::Deploy => 60.0,
            Service::Pager => 90.0,
        }
    }
}

/// What the estate has done since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EstateStats {
    pub requests: u64,
    /// Transient failures injected (5xx and 429).
    pub errors: u64,
    /// Calls held back for `hang`.
    pub hangs: u64,
    /// Answers refused with a 4xx (bad requests and business refusals).
    pub refused: u64,
    /// Calls answered from the idempotency cache.
    pub replays: u64,
}

/// One call's fate, drawn before it is served.
struct Plan {
    delay: Duration,
    fault: Option<StatusCode>,
    hang: Option<Duration>,
}

/// Everything behind the lock: the services' memory, the knobs, the counters.
struct Inner {
    sim: Sim,
    options: EstateOptions,
    stats: EstateStats,
    /// Answers by `service:idempotency-key`, replayed as they were first sent.
    replies: Bounded<Reply>,
}

impl Inner {
    fn plan(&mut self, svc: Service) -> Plan {
        self.stats.requests += 1;
        let o = &self.options;
        let (scale, error_rate, hang_rate, hang) =
            (o.latency_scale, o.error_rate, o.hang_rate, o.hang);
        let delay = latency(&mut self.sim.rng, svc.median_ms(), scale);
        let fault = (self.sim.rng.random::<f64>() < error_rate).then(|| transient(&mut self.sim));
        let hang = (self.sim.rng.random::<f64>() < hang_rate).then_some(hang);
        if fault.is_some() {
            self.stats.errors += 1;
        } else if hang.is_some() {
            self.stats.hangs += 1;
        }
        Plan { delay, fault, hang }
    }

    /// Replay the answer remembered under `key`, or work out a new one (and remember it
    /// unless it is a server error, which a retry may legitimately change).
    fn answer(
        &mut self,
        key: Option<String>,
        work: impl FnOnce(&mut Sim) -> Answer,
    ) -> (Reply, bool) {
        if let Some(k) = &key
            && let Some(reply) = self.replies.get(k)
        {
            self.stats.replays += 1;
            return (reply.clone(), true);
        }
        let reply = work(&mut self.sim).unwrap_or_else(|refused| refused);
        if reply.0.is_client_error() {
            self.stats.refused += 1;
        }
        if let Some(k) = key
            && !reply.0.is_server_error()
        {
            self.replies.insert(k, reply.clone());
        }
        (reply, false)
    }
}

/// Lognormal around the median with a thin, long tail; capped well below the shortest
/// step timeout, so only hangs make attempts time out.
fn latency(rng: &mut impl Rng, median_ms: f64, scale: f64) -> Duration {
    if scale <= 0.0 || !scale.is_finite() {
        return Duration::ZERO;
    }
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    let mut ms = median_ms * (0.5 * normal).exp();
    if rng.random::<f64>() < 0.03 {
        ms *= rng.random_range(4.0..12.0);
    }
    Duration::from_secs_f64((ms * scale).min(8_000.0 * scale) / 1000.0)
}

fn transient(sim: &mut Sim) -> StatusCode {
    match sim.rng.random_range(0..20) {
        0..=5 => StatusCode::INTERNAL_SERVER_ERROR,
        6..=8 => StatusCode::BAD_GATEWAY,
        9..=15 => StatusCode::SERVICE_UNAVAILABLE,
        16..=17 => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::TOO_MANY_REQUESTS,
    }
}

struct Shared {
    inner: Mutex<Inner>,
    stop: watch::Receiver<bool>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Serve one call: wait, maybe fail, answer (once per idempotency key when `remember`),
    /// maybe hang after the work is done, as a real service whose reply got stuck would.
    async fn call(
        &self,
        svc: Service,
        headers: &HeaderMap,
        remember: bool,
        work: impl FnOnce(&mut Sim) -> Answer,
    ) -> Response {
        let plan = self.lock().plan(svc);
        self.pause(plan.delay).await;
        if let Some(status) = plan.fault {
            return fault_response(svc, status);
        }
        let key = remember
            .then(|| idempotency_key(headers))
            .flatten()
            .map(|k| format!("{}:{k}", svc.prefix()));
        let ((status, body), replayed) = self.lock().answer(key, work);
        if let Some(hang) = plan.hang {
            self.pause(hang).await;
        }
        let mut response = (status, axum::Json(body)).into_response();
        if replayed {
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        response
    }

    /// Sleep, unless the estate is shutting down.
    async fn pause(&self, d: Duration) {
        if d.is_zero() {
            return;
        }
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    }
}

fn idempotency_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn fault_response(svc: Service, status: StatusCode) -> Response {
    let what = match status {
        StatusCode::TOO_MANY_REQUESTS => "rate limit exceeded, slow down",
        StatusCode::SERVICE_UNAVAILABLE => "temporarily unavailable",
        StatusCode::BAD_GATEWAY => "upstream connection reset",
        StatusCode::GATEWAY_TIMEOUT => "upstream timed out",
        _ => "internal error",
    };
    let body = json!({ "error": format!("{}: {what} (simulated)", svc.prefix()) });
    let mut response = (status, axum::Json(body)).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
    }
    response
}

/// The request body as JSON; anything else is answered with a 400 by the service.
fn parse(body: &Bytes) -> Result<Value, Reply> {
    serde_json::from_slice(body).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            json!({ "error": format!("the request body is not JSON: {e}") }),
        )
    })
}

/// A POST with a JSON body that creates something; remembered per idempotency key.
async fn create(
    s: &Shared,
    svc: Service,
    headers: &HeaderMap,
    body: &Bytes,
    work: fn(&mut Sim, &Value) -> Answer,
) -> Response {
    s.call(svc, headers, true, |sim| work(sim, &parse(body)?))
        .await
}

type St = State<Arc<Shared>>;

async fn crm_create(State(s): St, h: HeaderMap, b: Bytes) -> Response {
    create(&s, Service::Crm, &h, &b, services::crm_create).await
}

async fn crm_get(State(s): St, h: HeaderMap, Path(id): Path<String>) -> Response {
    s.call(Service::Crm, &h, false, |sim| services::crm_get(sim, &id))
        .await
}

async fn crm_delete(State(s): St, h: HeaderMap, Path(id): Path<String>) -> Response {
    s.call(Service::Crm, &h, false, |sim| {
        services::crm_delete(sim, &id)
    })
    .await
}

async fn workspace_create(State(s): St, h: HeaderMap, b: Bytes) -> Response {
    create(
        &s,
        Service::Provisioning,
        &h,
        &b,
        services::workspace_create,
    )
    .await
}

async fn workspace_delete(State(s): St, h: HeaderMap, Path(id): Path<String>) -> Response {
    s.call(Service::Provisioning, &h, false, |sim| {
        services::workspace_delete(sim, &id)
    })
    .await
}

async fn mail_send(State(s): St, h: HeaderMap, b: Bytes) -> Response {
    create(&s, Service::Mail, &h, &b, services::mail_send).await
}

async fn subscription_create(State(s): St, h: HeaderMap, b: Bytes) -> Response {
    create(&s, Service::Billing, &h, &b, services::subscription_create).await
}

async fn ocr_extract(State(s): St, h: HeaderMap, b: Bytes) -> Response {
    create(&s, Service::Ocr, &h, &b, services::ocr_extract).await
}

async fn agent_review(State(s): St, h: HeaderMap, b: Bytes) -> Response {
    create(&s, Service::Agent, &h, &b, services::agent_review).await
}

async fn payment_create(State(s): St, h: HeaderMap, b: Bytes) -> Response {
    create(&s, Service::Bank, &h, &b, services::payment_create).await
}

async fn payment_get(State(s): St, h: HeaderMap, Path(id): Path<String>) -> Response {
    s.call(Service::Bank, &h, false, |sim| {
        services::payment_get(sim, &id)
    })
    .await
}

async fn payment_void(State(s): St, h: HeaderMap, Path(id): Path<String>) -> Response {
    s.call(Service::Bank, &h, false, |sim| {
        services::payment_void(sim, &id)
    })
    .await
}

async fn health(State(s): St, h: HeaderMap, Path(service): Path<String>) -> Response {
    s.call(Service::Monitor, &h, false, |sim| {
        services::health(sim, &service)
    })
    .await
}

async fn deploys(State(s): St, h: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    s.call(Service::Deploy, &h, false, |sim| {
        let Some(service) = q.get("service").filter(|v| !v.trim().is_empty()) else {
            return Err((
                StatusCode::BAD_REQUEST,
                json!({ "error": "query parameter `service` is required" }),
            ));
        };
        let limit = match q.get("limit").map(|l| l.trim().parse::<usize>()) {
            None => 5,
            Some(Ok(n)) if (1..=50).contains(&n) => n,
            Some(_) => {
                return Err((
                    StatusCode::BAD_REQUEST,
                    json!({ "error": "`limit` must be a number from 1 to 50" }),
                ));
            }
        };
        services::deploys(sim, service, limit)
    })
    .await
}

async fn page(State(s): St, h: HeaderMap, b: Bytes) -> Response {
    create(&s, Service::Pager, &h, &b, services::page).await
}

async fn not_found(method: Method, uri: Uri) -> Response {
    let body = json!({
        "error": format!("the demo estate has no endpoint {method} {}", uri.path()),
    });
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/crm/customers", post(crm_create))
        .route("/crm/customers/{id}", get(crm_get).delete(crm_delete))
        .route("/provisioning/workspaces", post(workspace_create))
        .route(
            "/provisioning/workspaces/{id}",
            axum::routing::delete(workspace_delete),
        )
        .route("/mail/send", post(mail_send))
        .route("/billing/subscriptions", post(subscription_create))
        .route("/ocr/extract", post(ocr_extract))
        .route("/agent/review", post(agent_review))
        .route("/bank/payments", post(payment_create))
        .route("/bank/payments/{id}", get(payment_get))
        .route("/bank/payments/{id}/void", post(payment_void))
        .route("/monitor/services/{service}/health", get(health))
        .route("/deploy/deploys", get(deploys))
        .route("/pager/pages", post(page))
        .fallback(not_found)
        .with_state(shared)
}

/// Where invoices are filed before they are started, so the OCR service reads back what
/// the load generator decided (amount, currency, PO number).
#[derive(Clone)]
pub struct Documents(Arc<Shared>);

impl Documents {
    pub fn file(&self, path: impl Into<String>, fields: Value) {
        self.0.lock().sim.file_document(path.into(), fields);
    }
}

/// A running estate on 127.0.0.1.
pub struct Estate {
    url: String,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

/// How long shutdown waits for open connections before dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Answers remembered for idempotency keys.
const REMEMBERED_REPLIES: usize = 50_000;

impl Estate {
    /// Listen on a free loopback port and serve every service; `seed` makes latencies,
    /// faults and answers reproducible (for one order of calls).
    pub async fn start(options: EstateOptions, seed: u64) -> std::io::Result<Estate> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (stop, stop_rx) = watch::channel(false);
        let inner = Inner {
            sim: Sim::new(seed, options.reject_rate),
            options,
            stats: EstateStats::default(),
            replies: Bounded::new(REMEMBERED_REPLIES),
        };
        let shared = Arc::new(Shared {
            inner: Mutex::new(inner),
            stop: stop_rx.clone(),
        });
        let mut on_stop = stop_rx;
        let serve =
            axum::serve(listener, router(shared.clone())).with_graceful_shutdown(async move {
                let _ = on_stop.wait_for(|s| *s).await;
            });
        let server = tokio::spawn(async move {
            if let Err(e) = serve.await {
                tracing::warn!("the demo estate stopped serving: {e}");
            }
        });
        Ok(Estate {
            url: format!("http://{addr}"),
            shared,
            stop,
            server,
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every service's base URL under the name the workflows read: `CRM_URL`, ...
    pub fn env(&self) -> BTreeMap<String, String> {
        Service::ALL
            .iter()
            .map(|s| {
                (
                    s.env_var().to_string(),
                    format!("{}/{}", self.url, s.prefix()),
                )
            })
            .collect()
    }

    pub fn options(&self) -> EstateOptions {
        self.shared.lock().options.clone()
    }

    /// Change the knobs; calls already waiting keep the fate they drew.
    pub fn set_options(&self, options: EstateOptions) {
        let mut inner = self.shared.lock();
        inner.sim.reject_rate = options.reject_rate;
        inner.options = options;
    }

    pub fn stats(&self) -> EstateStats {
        self.shared.lock().stats
    }

    pub fn documents(&self) -> Documents {
        Documents(self.shared.clone())
    }

    /// Stop accepting calls, cut hung calls short, and wait (briefly) for open ones.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let mut server = self.server;
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut server)
            .await
            .is_err()
        {
            server.abort();
        }
    }
}

#[cfg(test)]
mod tests;
