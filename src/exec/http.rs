//! The `http` executor: one request with reqwest, idempotency key, expected statuses,
//! and the exchange it makes. Error messages name the method and URL (without query or
//! credentials), never header values.

use std::error::Error as _;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Response, StatusCode, Url};
use serde_json::Value;

use super::HttpJob;
use crate::types::event::{StepError, StepErrorKind};
use crate::types::exchange::{self, Body as Excerpt, Exchange};
use crate::types::job::Outcome;

/// The largest response body an attempt reads; anything larger is a `Decode` error.
pub const MAX_BODY: usize = 1024 * 1024;
/// How much of an unexpected response's body goes into the error message.
const EXCERPT_CHARS: usize = 200;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The shared client: connect timeout, `tempi/<version>` user agent, pooled connections.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .user_agent(concat!("tempi/", env!("CARGO_PKG_VERSION")))
        .build()
        // `build` fails only when the TLS backend cannot start (a broken installation,
        // not anything a job or the network controls). `Executors::new` has no way to
        // report that, so fall back to reqwest's defaults, which panic with its message.
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Run one attempt: send the request, check the status, decode the body.
pub async fn run(client: &reqwest::Client, job: &HttpJob) -> Result<Value, StepError> {
    run_recorded(client, job).await.result
}

/// [`run`], with the exchange it made (none when no request could be built from the job).
pub async fn run_recorded(client: &reqwest::Client, job: &HttpJob) -> Outcome {
    run_checked(client, job, Ok).await
}

/// [`run_recorded`], where `check` judges the decoded body (the agent's answer shape);
/// a body it refuses is kept in the exchange like that of a refused status.
pub(crate) async fn run_checked(
    client: &reqwest::Client,
    job: &HttpJob,
    check: fn(Value) -> Result<Value, StepError>,
) -> Outcome {
    let request = match build(client, job) {
        Ok(r) => r,
        Err(e) => return Err(e).into(),
    };
    let target = Target::new(&request);
    let mut exchange = Box::new(Exchange {
        request: sent(&request),
        response: None,
        duration_ms: 0,
    });
    let began = Instant::now();
    let seen = &mut exchange.response;
    let attempt = async {
        let response = client
            .execute(request)
            .await
            .map_err(|e| transport(&target, &e))?;
        finish(&target, response, &job.expect, check, seen).await
    };
    let result = match job.timeout {
        Some(limit) => tokio::time::timeout(limit, attempt)
            .await
            .unwrap_or_else(|_| Err(timed_out(&target, limit))),
        None => attempt.await,
    };
    exchange.duration_ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
    Outcome {
        result,
        exchange: Some(exchange),
    }
}

/// The request as the exchange keeps it: the URL without user name and password.
fn sent(request: &reqwest::Request) -> exchange::Request {
    let mut url = request.url().clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_fragment(None);
    let (headers, headers_omitted) = exchange::headers(
        request
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes())),
    );
    let body = request
        .body()
        .and_then(reqwest::Body::as_bytes)
        .map(|b| Excerpt::of(b, b.len() as u64));
    exchange::Request {
        method: request.method().to_string(),
        url: url.to_string(),
        headers,
        headers_omitted,
        body,
    }
}

/// The method and URL as they may appear in messages: no query, fragment or credentials.
struct Target {
    method: Method,
    url: String,
}

impl Target {
    fn new(request: &reqwest::Request) -> Self {
        Target {
            method: request.method().clone(),
            url: redact(request.url()),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.url)
    }
}

fn redact(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

fn template(message: String) -> StepError {
    StepError::new(StepErrorKind::Template, message)
}

/// Turn the rendered job into a request; anything malformed is the job's fault (`Template`).
fn build(client: &reqwest::Client, job: &HttpJob) -> Result<reqwest::Request, StepError> {
    let method = parse_method(&job.method)?;
    let url = parse_url(&job.url)?;
    let mut builder = client.request(method, url).headers(headers(job)?);
    if let Some(body) = &job.body {
        builder = builder.json(body);
    }
    builder.build().map_err(|e| {
        template(format!(
            "cannot build the request: {}",
            chain(&e.without_url())
        ))
    })
}

fn parse_method(method: &str) -> Result<Method, StepError> {
    let upper = method.trim().to_ascii_uppercase();
    if upper.is_empty() {
        return Err(template("the HTTP method is empty".into()));
    }
    Method::from_bytes(upper.as_bytes())
        .map_err(|_| template(format!("invalid HTTP method {method:?}")))
}

fn parse_url(raw: &str) -> Result<Url, StepError> {
    let url = Url::parse(raw.trim()).map_err(|e| template(format!("invalid URL: {e}")))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        "http" | "https" => Err(template(format!("URL {} has no host", redact(&url)))),
        other => Err(template(format!(
            "URL scheme {other:?} is not supported (use http or https)"
        ))),
    }
}

/// The job's headers plus `Idempotency-Key`, which the engine owns and always sets.
fn headers(job: &HttpJob) -> Result<HeaderMap, StepError> {
    let mut map = HeaderMap::new();
    for (name, value) in &job.headers {
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| template(format!("invalid header name {name:?}")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| template(format!("header {name} has an invalid value (not shown)")))?;
        map.append(name, value);
    }
    let key = HeaderValue::from_str(&job.idempotency_key)
        .map_err(|_| template("the idempotency key is not a valid header value".into()))?;
    map.insert("idempotency-key", key);
    Ok(map)
}

/// Note the status and headers in `seen`, read the body (capped), then judge the status
/// and decode; a body refused is kept in `seen` too.
async fn finish(
    target: &Target,
    response: Response,
    expect: &[u16],
    check: fn(Value) -> Result<Value, StepError>,
    seen: &mut Option<exchange::Response>,
) -> Result<Value, StepError> {
    let status = response.status();
    let (headers, headers_omitted) = exchange::headers(
        response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes())),
    );
    let received = seen.insert(exchange::Response {
        status: status.as_u16(),
        headers,
        headers_omitted,
        body: None,
    });
    let body = read_capped(response, MAX_BODY)
        .await
        .map_err(|e| transport(target, &e))?;
    let outcome = if !status_ok(status, expect) {
        Err(unexpected_status(target, status, &body.bytes))
    } else if body.overflow {
        let message = format!("{target}: response body exceeds the {MAX_BODY}-byte (1 MiB) limit");
        Err(StepError::new(StepErrorKind::Decode, message))
    } else {
        check(decode(&body.bytes))
    };
    if outcome.is_err() {
        received.body = Some(body.excerpt());
    }
    outcome
}

struct Body {
    bytes: Vec<u8>,
    /// The body was longer than the cap; `bytes` holds only its start.
    overflow: bool,
    /// Its length: as read, or as its `Content-Length` said.
    len: u64,
    /// Not read to its end (longer than the cap, with no `Content-Length`).
    unread: bool,
}

impl Body {
    fn excerpt(&self) -> Excerpt {
        Excerpt {
            unread: self.unread,
            ..Excerpt::of(&self.bytes, self.len)
        }
    }
}

/// Read at most `cap` bytes; stop (and drop the connection) as soon as the body is longer.
async fn read_capped(mut response: Response, cap: usize) -> Result<Body, reqwest::Error> {
    if let Some(len) = response.content_length().filter(|&n| n > cap as u64) {
        return Ok(Body {
            bytes: Vec::new(),
            overflow: true,
            len,
            unread: false,
        });
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if bytes.len() + chunk.len() > cap {
            let len = (bytes.len() + chunk.len()) as u64;
            let room = cap - bytes.len();
            bytes.extend_from_slice(&chunk[..room]);
            return Ok(Body {
                bytes,
                overflow: true,
                len,
                unread: true,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    let len = bytes.len() as u64;
    Ok(Body {
        bytes,
        overflow: false,
        len,
        unread: false,
    })
}

fn status_ok(status: StatusCode, expect: &[u16]) -> bool {
    if expect.is_empty() {
        status.is_success()
    } else {
        expect.contains(&status.as_u16())
    }
}

/// The body as JSON; empty is `null`, anything that is not JSON is a string of its text.
pub(crate) fn decode(bytes: &[u8]) -> Value {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn unexpected_status(target: &Target, status: StatusCode, body: &[u8]) -> StepError {
    let text = String::from_utf8_lossy(body);
    let excerpt = excerpt(text.trim(), EXCERPT_CHARS);
    let mut message = format!("{target}: unexpected status {status}");
    if !excerpt.is_empty() {
        message.push_str(": ");
        message.push_str(&excerpt);
    }
    StepError::new(StepErrorKind::Status, message).with_code(status.as_u16().to_string())
}

/// The first `max` characters of `text` on one line, with `…` when cut.
fn excerpt(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match flat.char_indices().nth(max.saturating_sub(1)) {
        Some((cut, _)) if flat.chars().count() > max => format!("{}…", &flat[..cut]),
        _ => flat,
    }
}

fn timed_out(target: &Target, limit: Duration) -> StepError {
    let message = format!(
        "{target}: no complete response within {}",
        humantime::format_duration(limit)
    );
    StepError::new(StepErrorKind::Timeout, message)
}

/// A failure below HTTP: connect, DNS, TLS, reset, or reqwest's own timeouts.
fn transport(target: &Target, error: &reqwest::Error) -> StepError {
    let kind = if error.is_timeout() && !error.is_connect() {
        StepErrorKind::Timeout
    } else {
        StepErrorKind::Connect
    };
    // reqwest's own text repeats the full URL (query included); name the target
    // redacted and keep only the causes.
    let what = if error.is_connect() {
        "cannot connect"
    } else if error.is_timeout() {
        "timed out"
    } else if error.is_body() || error.is_decode() {
        "error reading the response"
    } else {
        "error sending the request"
    };
    let causes = error.source().map(chain).unwrap_or_default();
    let message = if causes.is_empty() {
        format!("{target}: {what}")
    } else {
        format!("{target}: {what}: {causes}")
    };
    StepError::new(kind, message)
}

/// An error and its sources, joined by `: `, without repeating a source already shown.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let part = inner.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(method: &str, url: &str) -> HttpJob {
        HttpJob {
            method: method.into(),
            url: url.into(),
            headers: vec![],
            body: None,
            expect: vec![],
            idempotency_key: "item-1/step/run".into(),
            timeout: None,
        }
    }

    async fn err(job: HttpJob) -> StepError {
        match run(&client(), &job).await {
            Ok(v) => panic!("expected an error, got {v}"),
            Err(e) => e,
        }
    }

    #[tokio::test]
    async fn bad_method_url_and_scheme_are_template_errors() {
        let cases = [
            (job("GE T", "http://localhost/"), "invalid HTTP method"),
            (job("", "http://localhost/"), "method is empty"),
            (job("GET", "not a url"), "invalid URL"),
            (job("GET", "ftp://localhost/x"), "scheme \"ftp\""),
        ];
        for (job, needle) in cases {
            let e = err(job).await;
            assert_eq!(e.kind, StepErrorKind::Template);
            assert!(e.message.contains(needle), "{}", e.message);
        }
    }

    #[tokio::test]
    async fn header_errors_never_show_the_value() {
        let mut bad_value = job("GET", "http://localhost/");
        bad_value.headers = vec![("Authorization".into(), "Bearer s3cret\n".into())];
        let e = err(bad_value).await;
        assert_eq!(e.kind, StepErrorKind::Template);
        assert!(e.message.contains("authorization"), "{}", e.message);
        assert!(!e.message.contains("s3cret"), "{}", e.message);

        let mut bad_name = job("GET", "http://localhost/");
        bad_name.headers = vec![("X Bad".into(), "v".into())];
        assert!(err(bad_name).await.message.contains("invalid header name"));
    }

    #[test]
    fn redact_drops_query_and_credentials() {
        let url = Url::parse("https://user:pw@example.com/p?token=abc#frag").unwrap();
        assert_eq!(redact(&url), "https://example.com/p");
    }

    #[test]
    fn decode_json_text_and_empty() {
        assert_eq!(decode(b"{\"a\":1}"), serde_json::json!({"a": 1}));
        assert_eq!(decode(b"hello"), Value::String("hello".into()));
        assert_eq!(decode(b""), Value::Null);
        assert_eq!(decode(b" \n"), Value::Null);
    }

    #[test]
    fn excerpt_is_capped_and_flat() {
        assert_eq!(excerpt("a\nb", 200), "a b");
        let long = "é".repeat(300);
        let e = excerpt(&long, 200);
        assert_eq!(e.chars().count(), 200);
        assert!(e.ends_with('…'));
    }

    #[test]
    fn empty_expect_means_2xx() {
        assert!(status_ok(StatusCode::NO_CONTENT, &[]));
        assert!(!status_ok(StatusCode::FOUND, &[]));
        assert!(status_ok(StatusCode::NOT_FOUND, &[404]));
        assert!(!status_ok(StatusCode::OK, &[201]));
    }
}
