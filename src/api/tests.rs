//! The server and client against a fake engine loop on loopback: auth, body limits,
//! error mapping, races on one task, and the Prometheus text.

mod deploy;
mod socket;

use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc, watch};

use super::client::{Client, ClientError};
use super::server::router;
use super::{DecideRequest, StartRequest};
use crate::engine::handle::{EngineHandle, Request};
use crate::feed::Committed;
use crate::feed::records::Follow;
use crate::types::view::{ItemFilter, Metrics};
use crate::types::{Command, CommandError, Reply};

const TOKEN: &str = "s3cret-token";

/// What the fake engine saw: (actor, reason, command).
type Seen = Arc<Mutex<Vec<(String, Option<String>, Command)>>>;

/// A data dir with an empty journal, for the handle's reads of ended items.
fn empty_journal() -> std::path::PathBuf {
    let dir = tempfile::tempdir().unwrap().keep();
    drop(crate::store::Journal::open(&dir).unwrap());
    dir
}

fn fake_engine() -> (EngineHandle, Seen) {
    let (tx, mut rx) = mpsc::channel::<Request>(64);
    let (events, _) = broadcast::channel(64);
    let seen: Seen = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        let mut decided = false;
        while let Some(req) = rx.recv().await {
            match req {
                Request::Command {
                    who,
                    reason,
                    cmd,
                    reply,
                    ..
                } => {
                    log.lock()
                        .unwrap()
                        .push((who.actor().to_string(), reason, cmd.clone()));
                    let ok = |message: String| {
                        Ok(Reply {
                            item: Some(1),
                            task: None,
                            message,
                            seq: 7,
                            token: None,
                        })
                    };
                    let answer = match cmd {
                        Command::Start { workflow, .. } if workflow == "wf" => {
                            ok("item 1 started".into())
                        }
                        Command::Decide { task: 1, .. } if decided => {
                            Err(CommandError::Conflict("task 1 is already decided".into()))
                        }
                        Command::Decide {
                            task: 1, decision, ..
                        } => {
                            decided = true;
                            ok(format!("task 1 {decision} by {}", who.actor()))
                        }
                        Command::Decide { task, .. } => {
                            Err(CommandError::NotFound(format!("task {task} not found")))
                        }
                        other => Err(CommandError::Invalid(format!(
                            "not in this fake: {other:?}"
                        ))),
                    };
                    let _ = reply.send(answer);
                }
                Request::Items { reply, .. } => {
                    let _ = reply.send(Vec::new());
                }
                Request::Item { reply, .. } => {
                    let _ = reply.send(None);
                }
                Request::Tasks { reply, .. } => {
                    let _ = reply.send(Vec::new());
                }
                Request::Metrics { reply } => {
                    let _ = reply.send(Metrics {
                        in_flight: 3,
                        sla_met_pct: Some(100.0),
                        ..Metrics::default()
                    });
                }
                Request::Workflows { reply } => {
                    let _ = reply.send(vec![crate::types::deploy::WorkflowInfo {
                        name: "wf".into(),
                        version: 1,
                        in_flight: 2,
                    }]);
                }
                Request::Deploy { reply, .. } => {
                    let _ = reply.send(Err(CommandError::Invalid("not in this fake".into())));
                }
                Request::Workflow { reply, .. } => {
                    let _ = reply.send(None);
                }
                Request::Counted { reply } => {
                    use crate::types::tally::{Fact, Totals};
                    let mut totals = Totals::default();
                    totals.add(
                        "wf",
                        Fact::Completed {
                            cycle_us: 3_000_000,
                        },
                    );
                    totals.add("wf", Fact::Sla { met: true });
                    totals.add("wf", Fact::Sla { met: false });
                    totals.add_step("wf", "pay \"now\"", 20_000);
                    let _ = reply.send(crate::engine::handle::Counted {
                        now: chrono::Utc::now(),
                        totals,
                        workflows: vec!["wf".into()],
                    });
                }
                Request::Changed { reply, .. } => {
                    let _ = reply.send((Vec::new(), Vec::new(), Metrics::default()));
                }
                Request::StepDone { .. } => {}
            }
        }
    });
    let handle = EngineHandle {
        tx,
        events,
        data_dir: empty_journal(),
        feed: crate::feed::Shared::new(0),
        journal_id: "test".into(),
        health: watch::channel(Default::default()).1,
        audit: watch::channel(Default::default()).1,
        retention: None,
        stats: Default::default(),
        directory: watch::channel(Default::default()).1,
    };
    (handle, seen)
}

struct Fixture {
    url: String,
    seen: Seen,
    _stop: watch::Sender<bool>,
}

async fn serve_fake() -> Fixture {
    let (handle, seen) = fake_engine();
    let (stop, stopping) = watch::channel(false);
    let app = router(handle, TOKEN.into(), stopping);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Fixture {
        url,
        seen,
        _stop: stop,
    }
}

async fn raw(
    f: &Fixture,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> (u16, serde_json::Value) {
    let mut rb = reqwest::Client::new().request(method, format!("{}{path}", f.url));
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.header("content-type", "application/json").body(b);
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

#[tokio::test]
async fn every_api_route_needs_the_token_but_healthz() {
    let f = serve_fake().await;
    let get = reqwest::Method::GET;
    assert_eq!(raw(&f, get.clone(), "/healthz", None, None).await.0, 200);
    for path in [
        "/api/items",
        "/api/tasks",
        "/metrics",
        "/api/events",
        "/api/audit",
        "/api/workflows",
    ] {
        let (status, body) = raw(&f, get.clone(), path, None, None).await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(body["error"], "unauthorized");
        let (status, _) = raw(&f, get.clone(), path, Some("wrong"), None).await;
        assert_eq!(status, 401, "{path}");
    }
    let deploy = br#"{"files":[{"path":"a.yaml","source":"name: a"}]}"#.to_vec();
    let (status, _) = raw(
        &f,
        reqwest::Method::POST,
        "/api/workflows",
        None,
        Some(deploy),
    )
    .await;
    assert_eq!(status, 401, "a deploy needs the token");
    let wrong = Client::new(&f.url, "nope", "ann").unwrap();
    let err = wrong.items(&ItemFilter::default()).await.unwrap_err();
    assert!(matches!(err, ClientError::Unauthorized { .. }));
    assert!(
        err.to_string()
            .contains("refused the token; check --data or TEMPI_TOKEN")
    );
    assert!(f.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn bad_bodies_are_json_errors_and_change_nothing() {
    let f = serve_fake().await;
    let post = reqwest::Method::POST;
    let (status, body) = raw(
        &f,
        post.clone(),
        "/api/commands",
        Some(TOKEN),
        Some(b"{".to_vec()),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "bad_request");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("line 1 column 1"),
        "{body}"
    );

    let wrong_type = br#"{"command":"decide","task":"seven","decision":"approved"}"#.to_vec();
    let (status, body) = raw(
        &f,
        post.clone(),
        "/api/commands",
        Some(TOKEN),
        Some(wrong_type),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "invalid");

    let big = format!(
        "{{\"workflow\":\"{}\"}}",
        "x".repeat(super::MAX_BODY_BYTES + 10)
    );
    let (status, body) = raw(
        &f,
        post.clone(),
        "/api/items",
        Some(TOKEN),
        Some(big.into_bytes()),
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(body["error"], "too_large");

    let (status, _) = raw(&f, post.clone(), "/api/tasks/abc/claim", Some(TOKEN), None).await;
    assert_eq!(status, 400);
    let (status, body) = raw(&f, reqwest::Method::DELETE, "/api/items", Some(TOKEN), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (405, Some("method_not_allowed"))
    );
    let (status, body) = raw(&f, reqwest::Method::GET, "/api/nothing", Some(TOKEN), None).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, body) = raw(
        &f,
        reqwest::Method::GET,
        "/api/items?status=sleeping",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
    let (status, body) = raw(
        &f,
        reqwest::Method::GET,
        "/api/items?ids=1,x",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("'x' is not an item id"),
        "{body}"
    );
    let (status, body) = raw(&f, reqwest::Method::GET, "/api/items/42", Some(TOKEN), None).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("item 42 not found"))
    );
    assert!(f.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn command_errors_keep_their_status_and_message() {
    let f = serve_fake().await;
    let c = Client::new(&f.url, TOKEN, "ann").unwrap();
    let decide = DecideRequest {
        decision: "approved".into(),
        comment: None,
        fields: None,
    };
    let err = c.decide(42, &decide, None).await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert_eq!(err.to_string(), "task 42 not found");
}

#[tokio::test]
async fn a_decisions_fields_travel_to_the_engine_and_a_wrong_shape_is_a_4xx() {
    let f = serve_fake().await;
    let c = Client::new(&f.url, TOKEN, "ann").unwrap();
    let fields = serde_json::json!({"cost_centre": "CC-7", "amount": 12});
    let d = DecideRequest {
        decision: "approved".into(),
        comment: None,
        fields: fields.as_object().cloned(),
    };
    c.decide(1, &d, None).await.unwrap();
    let seen = f.seen.lock().unwrap().clone();
    assert!(
        matches!(&seen[0].2, Command::Decide { fields: Some(got), .. } if Some(got) == fields.as_object()),
        "{seen:?}"
    );
    // Fields that are not an object never reach the engine.
    let body = serde_json::json!({"decision": "approved", "fields": ["cost_centre"]});
    let (status, _) = raw(
        &f,
        reqwest::Method::POST,
        "/api/tasks/1/decide",
        Some(TOKEN),
        Some(body.to_string().into_bytes()),
    )
    .await;
    assert!((400..500).contains(&status), "{status}");
    assert_eq!(f.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn two_decisions_race_and_exactly_one_wins() {
    let f = serve_fake().await;
    let a = Client::new(&f.url, TOKEN, "ann").unwrap();
    let b = Client::new(&f.url, TOKEN, "bob").unwrap();
    let d = DecideRequest {
        decision: "approved".into(),
        comment: None,
        fields: None,
    };
    let (ra, rb) = tokio::join!(a.decide(1, &d, None), b.decide(1, &d, None));
    let statuses: Vec<Option<u16>> = [&ra, &rb]
        .iter()
        .map(|r| r.as_ref().err().and_then(ClientError::status))
        .collect();
    assert!(
        statuses.contains(&None) && statuses.contains(&Some(409)),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn actor_and_reason_travel_with_the_command() {
    let f = serve_fake().await;
    let c = Client::new(&f.url, TOKEN, "zoe").unwrap();
    let req = StartRequest {
        workflow: "wf".into(),
        version: None,
        input: serde_json::json!({"n": 1}),
        priority: 2,
    };
    let reply = c.start(&req, Some("customer asked\nagain")).await.unwrap();
    assert_eq!(reply.message, "item 1 started");
    let seen = f.seen.lock().unwrap();
    let (actor, reason, cmd) = &seen[0];
    assert_eq!(actor, "zoe");
    assert_eq!(reason.as_deref(), Some("customer asked again"));
    assert!(matches!(cmd, Command::Start { priority: 2, .. }));
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let f = serve_fake().await;
    let c = Client::new(&f.url, TOKEN, "ann").unwrap();
    let text = c.metrics_text().await.unwrap();
    for name in [
        "tempi_items_in_flight 3",
        "# TYPE tempi_items_total counter",
        "tempi_items_total{status=\"completed\"} 0",
        "tempi_workflow_items_completed_total{workflow=\"wf\"} 1",
        "tempi_workflow_sla_met_ratio{workflow=\"wf\"} 0.5",
        "# TYPE tempi_workflow_cycle_time_seconds histogram",
        "tempi_workflow_cycle_time_seconds_bucket{workflow=\"wf\",le=\"2.5\"} 0",
        "tempi_workflow_cycle_time_seconds_bucket{workflow=\"wf\",le=\"5\"} 1",
        "tempi_workflow_cycle_time_seconds_bucket{workflow=\"wf\",le=\"+Inf\"} 1",
        "tempi_workflow_cycle_time_seconds_sum{workflow=\"wf\"} 3",
        "tempi_workflow_cycle_time_seconds_count{workflow=\"wf\"} 1",
        "tempi_workflow_human_wait_seconds_count{workflow=\"wf\"} 0",
        "tempi_step_duration_seconds_bucket{workflow=\"wf\",step=\"pay \\\"now\\\"\",le=\"0.025\"} 1",
        "tempi_step_duration_seconds_bucket{workflow=\"wf\",step=\"pay \\\"now\\\"\",le=\"0.01\"} 0",
        "tempi_steps_total{result=\"failed\"} 0",
        "# HELP tempi_journal_seq",
        "tempi_tasks_open",
        "tempi_items_waiting_on_humans",
        "tempi_incidents",
        "tempi_items_at_risk",
        "tempi_items_breached",
        "tempi_engine_state{state=\"running\"} 1",
        "tempi_engine_state{state=\"refusing\"} 0",
    ] {
        assert!(text.contains(name), "{name} missing in\n{text}");
    }
    assert_eq!(c.workflows().await.unwrap()[0].name, "wf");
    assert_eq!(c.metrics().await.unwrap().in_flight, 3);
}

#[tokio::test]
async fn an_unreachable_daemon_is_reported_as_such() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let c = Client::new(&url, TOKEN, "ann").unwrap();
    let err = c.items(&ItemFilter::default()).await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
}

fn record(seq: u64) -> crate::types::Record {
    crate::types::Record {
        seq,
        at: chrono::Utc::now(),
        item: Some(seq),
        actor: "engine".into(),
        via: None,
        reason: None,
        event: crate::types::Event::ItemCompleted { item: seq },
    }
}

#[tokio::test]
async fn a_lagging_stream_rereads_the_gap_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = crate::store::Journal::open(dir.path()).unwrap();
    journal
        .append(&(1..=3).map(record).collect::<Vec<_>>())
        .unwrap();
    let (tx, _rx) = mpsc::channel(1);
    let (events, _) = broadcast::channel(2);
    let handle = EngineHandle {
        tx,
        events: events.clone(),
        data_dir: dir.path().into(),
        feed: crate::feed::Shared::new(0),
        journal_id: "test".into(),
        health: watch::channel(Default::default()).1,
        audit: watch::channel(Default::default()).1,
        retention: None,
        stats: Default::default(),
        directory: watch::channel(Default::default()).1,
    };
    let (_stop, stopping) = watch::channel(false);
    let mut follow = Follow::new(handle, None, 1, stopping);
    let mut seqs = Vec::new();
    let soon = std::time::Duration::from_secs(5);
    for _ in 0..2 {
        seqs.push(follow.next().await.unwrap().record.seq);
    }
    // Caught up: the follower now waits on the broadcast.
    let idle = tokio::time::timeout(std::time::Duration::from_millis(50), follow.next()).await;
    assert!(idle.is_err());
    // Five records into a channel of two: the follower lags and must use the journal.
    let more: Vec<_> = (4..=8).map(record).collect();
    journal.append(&more).unwrap();
    for r in more {
        let _ = events.send(Arc::from(vec![Committed::new(r)]));
    }
    for _ in 0..6 {
        if seqs.len() == 7 {
            journal.append(&[record(9)]).unwrap();
            let _ = events.send(Arc::from(vec![Committed::new(record(9))]));
        }
        match tokio::time::timeout(soon, follow.next()).await {
            Ok(Some(rec)) => seqs.push(rec.record.seq),
            _ => break,
        }
    }
    assert_eq!(seqs, vec![2, 3, 4, 5, 6, 7, 8, 9]);
}

/// Read one HTTP/1.1 response from `conn`: (status, headers in lower case), or None
/// when the connection closed first.
async fn read_response(
    conn: &mut tokio::io::BufReader<tokio::net::TcpStream>,
) -> Option<(u16, String)> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if conn.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line.to_ascii_lowercase());
    }
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |n| n.trim().parse().unwrap_or(0));
    let mut body = vec![0; length];
    conn.read_exact(&mut body).await.ok()?;
    Some((status, head))
}

#[tokio::test]
async fn a_refused_request_with_an_unread_body_never_breaks_its_kept_alive_connection() {
    use tokio::io::AsyncWriteExt;
    let f = serve_fake().await;
    let addr = f.url.trim_start_matches("http://").to_string();
    let body = vec![b' '; 256 * 1024];
    let mut conn = tokio::io::BufReader::new(tokio::net::TcpStream::connect(&addr).await.unwrap());
    for round in 0..200 {
        let head = format!(
            "POST /api/items HTTP/1.1\r\nhost: x\r\nauthorization: Bearer wrong\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let stream = conn.get_mut();
        stream.write_all(head.as_bytes()).await.unwrap();
        // The body arrives in pieces, after the server could have answered.
        for piece in body.chunks(64 * 1024) {
            if stream.write_all(piece).await.is_err() {
                break;
            }
        }
        let (status, headers) = read_response(&mut conn)
            .await
            .unwrap_or_else(|| panic!("round {round}: closed with no response"));
        assert_eq!(status, 401);
        if headers.contains("connection: close") {
            conn = tokio::io::BufReader::new(tokio::net::TcpStream::connect(&addr).await.unwrap());
            continue;
        }
        let next = "GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n";
        conn.get_mut().write_all(next.as_bytes()).await.unwrap();
        let answered = read_response(&mut conn).await;
        assert_eq!(
            answered.map(|(s, _)| s),
            Some(200),
            "round {round}: a kept-alive connection closed without answering"
        );
    }
}
