//! End-to-end tests of the executors: real HTTP servers on loopback, real programs.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use serde_json::{Value, json};
use tempi::exec::{HttpJob, ShellJob, agent, http, shell};
use tempi::types::event::{StepError, StepErrorKind};
use tempi::types::exchange::{Exchange, HIDDEN};

// ---------- HTTP ----------

async fn echo(method: Method, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let header = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("?").to_string())
            .collect::<Vec<_>>()
    };
    axum::Json(json!({
        "method": method.as_str(),
        "idempotency_key": header("idempotency-key"),
        "user_agent": header("user-agent"),
        "content_type": header("content-type"),
        "x_test": header("x-test"),
        "body": serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
    }))
}

async fn status(Path(code): Path<u16>) -> impl IntoResponse {
    let status = StatusCode::from_u16(code).unwrap();
    (status, format!("boom: {}", "y".repeat(500)))
}

/// A 500 with a 10 KiB body.
fn big_error() -> impl IntoResponse {
    (StatusCode::INTERNAL_SERVER_ERROR, "e".repeat(10 * 1024))
}

/// A success whose headers hold a session.
fn cookies() -> impl IntoResponse {
    (
        [
            ("set-cookie", "sid=s3ssion; HttpOnly"),
            ("x-session-token", "t0ken"),
            ("x-request-id", "req-42"),
        ],
        axum::Json(json!({ "ok": true })),
    )
}

fn big_chunked() -> Body {
    let chunks = (0..40).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'z'; 64 * 1024])));
    Body::from_stream(futures_util::stream::iter(chunks))
}

async fn server() -> SocketAddr {
    let app = Router::new()
        .route("/echo", any(echo))
        .route("/reply", post(|body: Bytes| async move { body }))
        .route("/text", get(|| async { "hello, world" }))
        .route("/empty", get(|| async { StatusCode::OK }))
        .route("/status/{code}", get(status))
        .route(
            "/slow",
            any(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route("/big", get(|| async { vec![b'x'; 2 * 1024 * 1024] }))
        .route("/big-error", get(|| async { big_error() }))
        .route("/cookies", get(|| async { cookies() }))
        .route("/big-chunked", get(|| async { big_chunked() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn http_job(method: &str, url: String) -> HttpJob {
    HttpJob {
        method: method.into(),
        url,
        headers: vec![],
        body: None,
        expect: vec![],
        idempotency_key: "item-7/pay/run".into(),
        timeout: Some(Duration::from_secs(10)),
    }
}

async fn get_ok(path: &str) -> Value {
    let addr = server().await;
    let job = http_job("GET", format!("http://{addr}{path}"));
    http::run(&http::client(), &job).await.unwrap()
}

async fn http_err(job: &HttpJob) -> StepError {
    match http::run(&http::client(), job).await {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn http_sends_method_headers_body_and_parses_json() {
    let addr = server().await;
    let mut job = http_job("post", format!("http://{addr}/echo?token=abc"));
    job.headers = vec![("X-Test".into(), "yes".into())];
    job.body = Some(json!({"doc": "invoice.pdf"}));
    let out = http::run(&http::client(), &job).await.unwrap();
    assert_eq!(out["method"], "POST");
    assert_eq!(out["x_test"], json!(["yes"]));
    assert_eq!(out["body"], json!({"doc": "invoice.pdf"}));
    assert_eq!(out["content_type"], json!(["application/json"]));
    let ua = out["user_agent"][0].as_str().unwrap();
    assert_eq!(ua, format!("tempi/{}", env!("CARGO_PKG_VERSION")));
}

#[tokio::test]
async fn http_idempotency_key_is_sent_once_and_stable() {
    let addr = server().await;
    let mut job = http_job("POST", format!("http://{addr}/echo"));
    // The engine's key wins over one a template might set.
    job.headers = vec![("Idempotency-Key".into(), "from-template".into())];
    let client = http::client();
    let first = http::run(&client, &job).await.unwrap();
    let second = http::run(&client, &job).await.unwrap();
    assert_eq!(first["idempotency_key"], json!(["item-7/pay/run"]));
    assert_eq!(first["idempotency_key"], second["idempotency_key"]);
}

#[tokio::test]
async fn http_non_json_body_is_a_string() {
    assert_eq!(get_ok("/text").await, json!("hello, world"));
}

#[tokio::test]
async fn http_empty_body_is_null() {
    assert_eq!(get_ok("/empty").await, Value::Null);
}

#[tokio::test]
async fn http_non_2xx_is_status_error_with_code_and_short_excerpt() {
    let addr = server().await;
    let e = http_err(&http_job("GET", format!("http://{addr}/status/503"))).await;
    assert_eq!(e.kind, StepErrorKind::Status);
    assert_eq!(e.code.as_deref(), Some("503"));
    assert!(e.message.contains("503"), "{}", e.message);
    assert!(e.message.contains("boom: yyy"), "{}", e.message);
    let excerpt = e.message.split("boom: ").nth(1).unwrap();
    assert!(excerpt.chars().count() <= 200, "{}", e.message);
}

#[tokio::test]
async fn http_expect_list_is_honoured() {
    let addr = server().await;
    let mut job = http_job("GET", format!("http://{addr}/status/404"));
    job.expect = vec![404];
    let out = http::run(&http::client(), &job).await.unwrap();
    assert!(out.as_str().unwrap().starts_with("boom: "));

    let mut job = http_job("GET", format!("http://{addr}/text"));
    job.expect = vec![201];
    let e = http_err(&job).await;
    assert_eq!(e.kind, StepErrorKind::Status);
    assert_eq!(e.code.as_deref(), Some("200"));
}

#[tokio::test]
async fn http_timeout_is_prompt() {
    let addr = server().await;
    let mut job = http_job("GET", format!("http://{addr}/slow"));
    job.timeout = Some(Duration::from_millis(200));
    let started = Instant::now();
    let e = http_err(&job).await;
    assert_eq!(e.kind, StepErrorKind::Timeout);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(e.message.contains("200ms"), "{}", e.message);
}

#[tokio::test]
async fn http_connection_refused_is_connect_and_url_is_redacted() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let e = http_err(&http_job("GET", format!("http://{addr}/x?token=s3cret"))).await;
    assert_eq!(e.kind, StepErrorKind::Connect);
    assert!(
        e.message.contains(&format!("GET http://{addr}/x")),
        "{}",
        e.message
    );
    assert!(!e.message.contains("s3cret"), "{}", e.message);
}

#[tokio::test]
async fn http_oversized_body_is_decode_error() {
    let addr = server().await;
    for path in ["/big", "/big-chunked"] {
        let e = http_err(&http_job("GET", format!("http://{addr}{path}"))).await;
        assert_eq!(e.kind, StepErrorKind::Decode, "{path}");
        assert!(e.message.contains("1 MiB"), "{path}: {}", e.message);
    }
}

// ---------- agent ----------

async fn agent_answer(answer: Value) -> Result<Value, StepError> {
    let addr = server().await;
    let mut job = http_job("POST", format!("http://{addr}/reply"));
    job.body = Some(answer);
    agent::run(&http::client(), &job).await
}

#[tokio::test]
async fn agent_valid_answer_passes_through() {
    let answer = json!({"decision": "approve", "confidence": 0.92, "reason": "PO matches"});
    assert_eq!(agent_answer(answer.clone()).await.unwrap(), answer);
}

#[tokio::test]
async fn agent_invalid_answers_are_decode_errors() {
    let cases = [
        (json!({"decision": "approve"}), "no `confidence`"),
        (
            json!({"decision": "approve", "confidence": 1.5}),
            "outside 0..=1",
        ),
        (json!(["approve", 0.9]), "must be a JSON object"),
    ];
    for (answer, needle) in cases {
        let e = agent_answer(answer.clone()).await.unwrap_err();
        assert_eq!(e.kind, StepErrorKind::Decode, "{answer}");
        assert!(e.message.contains(needle), "{answer}: {}", e.message);
    }
}

#[tokio::test]
async fn agent_http_errors_pass_through() {
    let addr = server().await;
    let job = http_job("GET", format!("http://{addr}/status/500"));
    let e = agent::run(&http::client(), &job).await.unwrap_err();
    assert_eq!(e.kind, StepErrorKind::Status);
}

// ---------- the exchange ----------

async fn recorded(job: &HttpJob) -> (Result<Value, StepError>, Exchange) {
    let o = http::run_recorded(&http::client(), job).await;
    (
        o.result,
        *o.exchange.expect("an HTTP attempt has an exchange"),
    )
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn exchange_of_a_success_has_status_headers_and_request_but_no_response_body() {
    let addr = server().await;
    let mut job = http_job("POST", format!("http://{addr}/echo?q=1"));
    job.headers = vec![("X-Test".into(), "yes".into())];
    job.body = Some(json!({ "doc": "invoice.pdf" }));
    let (result, x) = recorded(&job).await;
    assert_eq!(result.unwrap()["method"], "POST");
    assert_eq!(x.request.method, "POST");
    assert_eq!(x.request.url, format!("http://{addr}/echo?q=1"));
    assert_eq!(header(&x.request.headers, "x-test"), Some("yes"));
    assert_eq!(
        header(&x.request.headers, "idempotency-key"),
        Some("item-7/pay/run")
    );
    let body = x.request.body.as_ref().expect("the request body");
    assert_eq!(body.excerpt, r#"{"doc":"invoice.pdf"}"#);
    assert_eq!((body.bytes, body.cut), (21, false));
    let r = x.response.expect("a response");
    assert_eq!(r.status, 200);
    assert_eq!(header(&r.headers, "content-type"), Some("application/json"));
    assert_eq!(r.body, None, "the step's output is the body");
    assert!(x.duration_ms < 10_000);
}

#[tokio::test]
async fn exchange_of_a_503_keeps_the_response_body() {
    let addr = server().await;
    let (result, x) = recorded(&http_job("GET", format!("http://{addr}/status/503"))).await;
    assert_eq!(result.unwrap_err().kind, StepErrorKind::Status);
    let r = x.response.expect("a response");
    assert_eq!(r.status, 503);
    let body = r.body.expect("the body of a failure");
    assert_eq!(body.excerpt, format!("boom: {}", "y".repeat(500)));
    assert_eq!((body.bytes, body.cut), (506, false));
    assert_eq!(x.request.body, None, "a GET sends none");
}

#[tokio::test]
async fn exchange_cuts_a_10_kib_body_to_4_kib_and_says_how_long_it_was() {
    let addr = server().await;
    let (_, x) = recorded(&http_job("GET", format!("http://{addr}/big-error"))).await;
    let body = x.response.and_then(|r| r.body).expect("the body");
    assert_eq!(body.excerpt, "e".repeat(4096));
    assert_eq!(
        (body.bytes, body.cut, body.unread),
        (10 * 1024, true, false)
    );
}

#[tokio::test]
async fn exchange_of_a_body_past_the_limit_says_what_was_read() {
    let addr = server().await;
    let (_, x) = recorded(&http_job("GET", format!("http://{addr}/big"))).await;
    let body = x.response.and_then(|r| r.body).expect("the body");
    // Content-Length said: nothing read, the length known.
    assert_eq!(
        (body.excerpt.len(), body.bytes, body.cut),
        (0, 2 << 20, true)
    );
    let (_, x) = recorded(&http_job("GET", format!("http://{addr}/big-chunked"))).await;
    let body = x.response.and_then(|r| r.body).expect("the body");
    assert_eq!(body.excerpt, "z".repeat(4096));
    assert!(body.unread && body.cut && body.bytes > 1 << 20, "{body:?}");
}

#[tokio::test]
async fn exchange_hides_sensitive_headers_both_ways() {
    let addr = server().await;
    let mut job = http_job("GET", format!("http://{addr}/cookies"));
    job.headers = vec![
        ("Authorization".into(), "Bearer s3cret".into()),
        ("X-Api-Key".into(), "k3y".into()),
        ("Cookie".into(), "sid=abc".into()),
        ("X-Trace".into(), "visible".into()),
    ];
    let (result, x) = recorded(&job).await;
    assert_eq!(result.unwrap(), json!({ "ok": true }));
    let sent = &x.request.headers;
    for name in ["authorization", "x-api-key", "cookie"] {
        assert_eq!(header(sent, name), Some(HIDDEN), "{name}");
    }
    assert_eq!(header(sent, "x-trace"), Some("visible"));
    assert_eq!(header(sent, "idempotency-key"), Some("item-7/pay/run"));
    let got = x.response.expect("a response").headers;
    assert_eq!(header(&got, "set-cookie"), Some(HIDDEN));
    assert_eq!(header(&got, "x-session-token"), Some(HIDDEN));
    assert_eq!(header(&got, "x-request-id"), Some("req-42"));
    let text = serde_json::to_string(&x.request).unwrap() + &format!("{got:?}");
    for secret in ["s3cret", "k3y", "sid=", "t0ken"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[tokio::test]
async fn exchange_url_has_no_user_name_or_password_but_keeps_the_query() {
    let addr = server().await;
    let job = http_job("GET", format!("http://bob:pa55@{addr}/text?page=2#top"));
    let (result, x) = recorded(&job).await;
    assert_eq!(result.unwrap(), json!("hello, world"));
    assert_eq!(x.request.url, format!("http://{addr}/text?page=2"));
    assert!(!x.request.url.contains("pa55") && !x.request.url.contains("bob"));
}

#[tokio::test]
async fn exchange_of_a_timeout_has_the_request_and_no_response() {
    let addr = server().await;
    let mut job = http_job("PUT", format!("http://{addr}/slow"));
    job.body = Some(json!([1, 2]));
    job.timeout = Some(Duration::from_millis(200));
    let (result, x) = recorded(&job).await;
    assert_eq!(result.unwrap_err().kind, StepErrorKind::Timeout);
    assert_eq!(x.response, None);
    assert_eq!(x.request.method, "PUT");
    assert_eq!(x.request.body.map(|b| b.excerpt).as_deref(), Some("[1,2]"));
    assert!((200..2000).contains(&x.duration_ms), "{}", x.duration_ms);
}

#[tokio::test]
async fn exchange_is_absent_when_no_request_could_be_built() {
    let o = http::run_recorded(&http::client(), &http_job("GET", "not a url".into())).await;
    assert_eq!(o.result.unwrap_err().kind, StepErrorKind::Template);
    assert_eq!(o.exchange, None);
}

#[tokio::test]
async fn exchange_of_an_agent_answer_refused_keeps_its_body() {
    let addr = server().await;
    let mut job = http_job("POST", format!("http://{addr}/reply"));
    job.body = Some(json!({ "decision": "approve" }));
    let o = agent::run_recorded(&http::client(), &job).await;
    assert_eq!(o.result.unwrap_err().kind, StepErrorKind::Decode);
    let r = o.exchange.and_then(|x| x.response).expect("a response");
    assert_eq!(r.status, 200);
    let body = r.body.expect("the refused answer");
    assert_eq!(body.excerpt, r#"{"decision":"approve"}"#);
}

// ---------- shell ----------

fn argv(args: &[&str]) -> ShellJob {
    ShellJob {
        argv: args.iter().map(|s| s.to_string()).collect(),
        script: None,
        env: vec![],
        cwd: None,
        ok_codes: vec![],
        timeout: Some(Duration::from_secs(10)),
        idempotency_key: "item-7/match/run".into(),
    }
}

fn script(text: &str) -> ShellJob {
    ShellJob {
        script: Some(text.into()),
        ..argv(&[])
    }
}

async fn shell_err(job: &ShellJob) -> StepError {
    match shell::run(job).await {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn shell_argv_is_not_split_or_interpreted() {
    let out = shell::run(&argv(&["printf", "%s|", "a b", "$HOME", "*"]))
        .await
        .unwrap();
    assert_eq!(out["stdout"], "a b|$HOME|*|");
    assert_eq!(out["exit_code"], 0);
    assert_eq!(out["truncated"], false);
    assert_eq!(out["json"], Value::Null);
}

#[tokio::test]
async fn shell_script_env_key_and_cwd() {
    let dir = tempfile::tempdir().unwrap();
    let mut job =
        script(r#"printf '%s|%s|%s' "$FOO" "$TEMPI_IDEMPOTENCY_KEY" "$(pwd)"; echo warn >&2"#);
    job.env = vec![("FOO".into(), "bar baz".into())];
    job.cwd = Some(dir.path().to_string_lossy().into_owned());
    let out = shell::run(&job).await.unwrap();
    let cwd = dir.path().canonicalize().unwrap();
    let expected = format!("bar baz|item-7/match/run|{}", cwd.display());
    assert_eq!(out["stdout"], expected);
    assert_eq!(out["stderr"], "warn\n");
}

#[tokio::test]
async fn shell_inherits_parent_environment() {
    // PATH comes from the parent; without it `printenv` itself would not be found.
    let out = shell::run(&argv(&["printenv", "PATH"])).await.unwrap();
    assert_eq!(
        out["stdout"].as_str().unwrap().trim_end(),
        std::env::var("PATH").unwrap()
    );
}

#[tokio::test]
async fn shell_stdout_json_is_parsed() {
    let out = shell::run(&script(r#"echo '{"po": "PO-1", "n": 2}'"#))
        .await
        .unwrap();
    assert_eq!(out["json"], json!({"po": "PO-1", "n": 2}));
}

#[tokio::test]
async fn shell_exit_code_outside_ok_codes_is_exit_error() {
    let e = shell_err(&script("echo first >&2; echo 'disk full' >&2; exit 3")).await;
    assert_eq!(e.kind, StepErrorKind::Exit);
    assert_eq!(e.code.as_deref(), Some("3"));
    assert!(e.message.contains("disk full"), "{}", e.message);
    assert!(e.message.contains("code 3"), "{}", e.message);
}

#[tokio::test]
async fn shell_ok_codes_accept_nonzero_and_reject_zero() {
    let mut job = script("exit 3");
    job.ok_codes = vec![3];
    let out = shell::run(&job).await.unwrap();
    assert_eq!(out["exit_code"], 3);

    let mut job = script("exit 0");
    job.ok_codes = vec![3];
    assert_eq!(shell_err(&job).await.code.as_deref(), Some("0"));
}

#[tokio::test]
async fn shell_killed_by_signal_names_it() {
    let e = shell_err(&script("kill -9 $$")).await;
    assert_eq!(e.kind, StepErrorKind::Exit);
    assert!(e.message.contains("SIGKILL"), "{}", e.message);
}

/// Alive means present in /proc and not a zombie waiting for its new parent to reap it.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

async fn wait_gone(pid: i32) -> bool {
    for _ in 0..50 {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn shell_timeout_kills_the_whole_process_group_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pid");
    let mut job = script(&format!(
        "sleep 30 & echo $! > '{}'; sleep 30",
        file.display()
    ));
    job.timeout = Some(Duration::from_millis(300));
    let started = Instant::now();
    let e = shell_err(&job).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(e.kind, StepErrorKind::Timeout);
    let pid: i32 = std::fs::read_to_string(&file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        wait_gone(pid).await,
        "grandchild {pid} survived the timeout"
    );
}

#[tokio::test]
async fn shell_background_leftovers_do_not_hold_the_step_open() {
    let started = Instant::now();
    let out = shell::run(&script("sleep 30 & echo done")).await.unwrap();
    assert_eq!(out["stdout"], "done\n");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn shell_big_output_is_truncated_without_hanging() {
    let job = script("yes | head -c 1000000; yes err | head -c 1000000 >&2; echo tail");
    let started = Instant::now();
    let out = shell::run(&job).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(out["truncated"], true);
    assert_eq!(out["stdout"].as_str().unwrap().len(), shell::MAX_CAPTURE);
    assert_eq!(out["stderr"].as_str().unwrap().len(), shell::MAX_CAPTURE);
    assert!(out["stdout"].as_str().unwrap().starts_with("y\ny\n"));
}

#[tokio::test]
async fn shell_missing_program_is_spawn_error() {
    let e = shell_err(&argv(&["tempi-no-such-program", "x"])).await;
    assert_eq!(e.kind, StepErrorKind::Spawn);
    assert!(e.message.contains("tempi-no-such-program"), "{}", e.message);
    assert!(e.message.contains("not found"), "{}", e.message);
}

#[tokio::test]
async fn shell_not_executable_and_empty_are_spawn_errors() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let path = file.path().to_string_lossy().into_owned();
    let e = shell_err(&argv(&[&path])).await;
    assert_eq!(e.kind, StepErrorKind::Spawn);
    assert!(e.message.contains("not executable"), "{}", e.message);

    let e = shell_err(&argv(&[])).await;
    assert_eq!(e.kind, StepErrorKind::Spawn);
    assert!(e.message.contains("nothing to run"), "{}", e.message);

    let mut job = argv(&["true"]);
    job.cwd = Some("/nonexistent/tempi".into());
    assert!(shell_err(&job).await.message.contains("working directory"));
}
