//! The API's server-sent event streams: every committed record (`/api/events`) and the
//! change feed consoles follow (`/api/changes`). Each event is encoded once for every
//! client, and what is ready goes out in one chunk.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use bytes::BytesMut;

use super::openapi::{Refused, Resume, StreamRefused};
use super::server::{ApiError, AppState, Q, header_text};
use super::{ChangesQuery, EventsQuery};
use crate::feed::changes::{Delivery, FeedError, Follower};
use crate::feed::records::Follow;

/// A comment line sent when nothing else was, so proxies keep the connection open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Bytes gathered into one chunk at most.
const CHUNK: usize = 256 * 1024;
/// How long a small chunk waits for more records: a write and a wake-up per commit for
/// each of 20 clients cost the engine a third of its rate; this costs each record at
/// most this much latency.
const LINGER: Duration = Duration::from_millis(20);

/// Where a stream resumes: `Last-Event-ID` wins over `?after=`.
fn position(headers: &HeaderMap, after: Option<u64>) -> Result<u64, ApiError> {
    match header_text(headers, "last-event-id") {
        Some(id) => id.parse::<u64>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("Last-Event-ID: not a sequence number: {id}"),
            )
        }),
        None => Ok(after.unwrap_or(0)),
    }
}

fn resync(message: String) -> ApiError {
    ApiError::new(StatusCode::GONE, "resync", message)
}

fn sse(body: Body) -> Response {
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    resp
}

fn keep_alive() -> Bytes {
    Bytes::from_static(b":\n\n")
}

/// `GET /api/events?after=SEQ[&item=ID]`: every record committed after `SEQ`.
#[utoipa::path(
    get,
    path = "/api/events",
    tag = "journal",
    description = "Server-sent events that do not end: each `data:` is one `Record` as JSON \
        with its `seq` as the event's `id`; a comment line every 15 s keeps it open.",
    params(EventsQuery, Resume),
    responses(
        (status = 200, description = "The stream.", body = String, content_type = "text/event-stream"),
        StreamRefused,
        Refused,
    ),
)]
pub async fn events(
    State(st): State<AppState>,
    headers: HeaderMap,
    Q(q): Q<EventsQuery>,
) -> Result<Response, ApiError> {
    let after = position(&headers, q.after)?;
    if let Some(message) = st.handle.gap_after(after).await {
        return Err(resync(message));
    }
    let follow = Follow::new(st.handle.clone(), q.item, after, st.stopping.clone());
    let stream = futures_util::stream::unfold(follow, |mut f| async move {
        let first = match tokio::time::timeout(KEEP_ALIVE, f.next()).await {
            Ok(first) => first?,
            Err(_) => return Some((Ok::<_, Infallible>(keep_alive()), f)),
        };
        let mut chunk = BytesMut::from(&first.sse()[..]);
        f.fill(&mut chunk, CHUNK);
        // Only a small chunk waits for more: a client reading a busy journal must never
        // be held to a chunk per linger, or it falls behind and reads from the journal.
        if chunk.len() < CHUNK / 4 {
            tokio::time::sleep(LINGER).await;
            f.fill(&mut chunk, CHUNK);
        }
        Some((Ok(chunk.freeze()), f))
    });
    Ok(sse(Body::from_stream(stream)))
}

/// `GET /api/changes?after=SEQ`: batches of what changed after `SEQ` (`event: changes`),
/// or one `event: resync` when the client must read items and tasks afresh.
#[utoipa::path(
    get,
    path = "/api/changes",
    tag = "journal",
    description = "Server-sent events that do not end: `event: changes` batches of what \
        changed (items, tasks, workflows), each with the journal position as its `id`; or \
        one `event: resync` (an `ErrorBody`) and the end, when the client must read items \
        and tasks afresh.",
    params(ChangesQuery, Resume),
    responses(
        (status = 200, description = "The stream.", body = String, content_type = "text/event-stream"),
        StreamRefused,
        Refused,
    ),
)]
pub async fn changes(
    State(st): State<AppState>,
    headers: HeaderMap,
    Q(q): Q<ChangesQuery>,
) -> Result<Response, ApiError> {
    let after = position(&headers, q.after)?;
    if let Some(message) = st.handle.gap_after(after).await {
        return Err(resync(message));
    }
    let mine = &st.handle.journal_id;
    if let Some(theirs) = q.journal.as_deref().filter(|j| *j != &**mine) {
        return Err(resync(format!(
            "position {after} is in journal {theirs}, and this daemon's journal is {mine} (another data dir); resync"
        )));
    }
    let follower = match Follower::new(st.handle.clone(), after, st.stopping.clone()).await {
        Ok(f) => f,
        Err(FeedError::Resync(message)) => return Err(resync(message)),
        Err(FeedError::Unavailable(message)) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                message,
            ));
        }
    };
    let stream = futures_util::stream::unfold(Some(follower), |f| async move {
        let mut f = f?;
        let got = match tokio::time::timeout(KEEP_ALIVE, f.next()).await {
            Ok(got) => got,
            Err(_) => return Some((Ok::<_, Infallible>(keep_alive()), Some(f))),
        };
        match got {
            Ok(d) => match &*d {
                Delivery::Batch { sse, .. } => Some((Ok(sse.clone()), Some(f))),
                Delivery::Resync(message) => Some((Ok(resync_event(message)), None)),
            },
            Err(FeedError::Resync(message)) => Some((Ok(resync_event(&message)), None)),
            Err(FeedError::Unavailable(_)) => None,
        }
    });
    Ok(sse(Body::from_stream(stream)))
}

/// The last event of a stream whose client must resync.
fn resync_event(message: &str) -> Bytes {
    let data = serde_json::json!({ "error": "resync", "message": message }).to_string();
    // No id: a client that reconnects on its own resumes from its last batch, and is
    // told again if that is no longer possible.
    crate::feed::message(Some("resync"), None, &data)
}
