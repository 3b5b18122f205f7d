//! `tempi serve` as a child process on loopback, driven by the CLI and by raw HTTP:
//! auth, error answers, races, SSE resume, metrics, clean SIGTERM and a SIGKILL
//! under load followed by a restart that completes every item; and fuzzed against its
//! OpenAPI document (`fuzz`).

mod common;
#[path = "api/fuzz.rs"]
mod fuzz;
#[path = "api/identity.rs"]
mod identity;
#[path = "api/socket.rs"]
mod socket;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempi::api::sse;
use tempi::engine::Record;

const FLOW: &str = r#"name: order
version: 1
steps:
  - id: prep
    kind: pass
    output: { n: "{{ input.n }}" }
  - id: ok
    kind: human
    needs: [prep]
    title: "Approve order {{ steps.prep.output.n }}"
    group: ops
"#;

const BATCH: &str = r#"name: batch
version: 1
key: "B-{{ input.n }}"
title: "Batch number {{ input.n }}"
steps:
  - id: a
    kind: pass
    output: { n: 1 }
  - id: b
    kind: pass
    needs: [a]
    output: { n: 2 }
  - id: pause
    kind: wait
    needs: [b]
    duration: 1s
  - id: c
    kind: pass
    needs: [pause]
    output: { n: 3 }
"#;

struct Daemon {
    child: Child,
    data: PathBuf,
    wf: PathBuf,
    url: String,
    token: String,
    _tmp: tempfile::TempDir,
}

fn spawn(data: &Path, wf: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tempi"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .arg("--workflows")
        .arg(wf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let up = common::wait_up(&mut child, data);
    (child, up.url)
}

impl Daemon {
    fn start() -> Daemon {
        Daemon::with(&[("order", FLOW), ("batch", BATCH)])
    }

    /// A daemon whose workflows dir holds these `(name, text)` files.
    fn with(workflows: &[(&str, &str)]) -> Daemon {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let wf = tmp.path().join("wf");
        std::fs::create_dir_all(&wf).unwrap();
        for (name, text) in workflows {
            std::fs::write(wf.join(format!("{name}.yaml")), text).unwrap();
        }
        let (child, url) = spawn(&data, &wf);
        let token = std::fs::read_to_string(data.join("token"))
            .unwrap()
            .trim()
            .to_string();
        Daemon {
            child,
            data,
            wf,
            url,
            token,
            _tmp: tmp,
        }
    }

    fn restart(&mut self) {
        let (child, url) = spawn(&self.data, &self.wf);
        self.child = child;
        self.url = url;
    }

    fn signal(&self, sig: i32) {
        let pid = i32::try_from(self.child.id()).unwrap();
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_tempi"))
            .arg("--data")
            .arg(&self.data)
            .args(args)
            .env_remove("TEMPI_URL")
            .env_remove("TEMPI_TOKEN")
            .env_remove("TEMPI_SOCKET")
            .env("TEMPI_USER", "ann")
            .output()
            .unwrap()
    }

    fn cli_json(&self, args: &[&str]) -> Value {
        let o = self.cli(args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    }

    fn http(&self) -> reqwest::Client {
        reqwest::Client::new()
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut rb = self
            .http()
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn start_item(&self, workflow: &str) -> u64 {
        let body = json!({"workflow": workflow, "input": {"n": 1}});
        let (status, reply) = self
            .call(reqwest::Method::POST, "/api/items", Some(body))
            .await;
        assert_eq!(status, 201, "{reply}");
        reply["item"].as_u64().unwrap()
    }

    async fn open_task_of(&self, item: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, tasks) = self.call(reqwest::Method::GET, "/api/tasks", None).await;
            let found = tasks.as_array().unwrap().iter().find(|t| t["item"] == item);
            if let Some(t) = found {
                return t["id"].as_u64().unwrap();
            }
            assert!(Instant::now() < deadline, "no task for item {item}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_drives_a_daemon() {
    let d = Daemon::start();
    let o = d.cli(&[
        "start",
        "order",
        "--input",
        r#"{"n": 5}"#,
        "--reason",
        "smoke test",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let items = d.cli_json(&["items", "--json"]);
    assert_eq!(items.as_array().unwrap().len(), 1, "{items}");
    let item = items[0]["id"].as_u64().unwrap();
    let task = d.open_task_of(item).await;
    let tasks = d.cli_json(&["tasks", "--json"]);
    assert_eq!(tasks[0]["title"], "Approve order 5");

    let t = task.to_string();
    let o = d.cli(&["approve", &t, "--comment", "fine", "--reason", "checked"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = d.cli(&["reject", &t]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already decided"), "{}", stderr(&o));
    let o = d.cli(&["approve", "999"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("task 999 not found"), "{}", stderr(&o));

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let all = d.cli_json(&["items", "--all", "--json"]);
        if all[0]["status"] == "completed" {
            break;
        }
        assert!(Instant::now() < deadline, "item did not complete: {all}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let audit = d.cli_json(&["audit", &item.to_string(), "--json"]);
    let records: Vec<Record> = serde_json::from_value(audit).unwrap();
    let started = records
        .iter()
        .find(|r| r.event.name() == "item_started")
        .unwrap();
    assert_eq!(
        (started.actor.as_str(), started.reason.as_deref()),
        ("ann", Some("smoke test"))
    );
    let decided = records
        .iter()
        .find(|r| r.event.name() == "task_decided")
        .unwrap();
    assert_eq!(decided.reason.as_deref(), Some("checked"));
    let detail = d.cli_json(&["item", &item.to_string(), "--json"]);
    assert_eq!(detail["item"]["summary"]["status"], "completed");
    let human = d.cli(&["item", &item.to_string()]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("task_decided"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_json_errors() {
    let d = Daemon::start();
    let url = format!("{}/api/items", d.url);
    let resp = d.http().get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = d
        .http()
        .get(&url)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");

    let post = |body: Vec<u8>| {
        d.http()
            .post(format!("{}/api/commands", d.url))
            .bearer_auth(&d.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let resp = post(b"{\"command\": ".to_vec()).await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let resp = post(br#"{"command":"claim","task":"x"}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422);
    let resp = post(vec![b' '; 2 * 1024 * 1024]).await.unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    let (status, body) = d.call(reqwest::Method::GET, "/api/items/4242", None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "not_found");
    let start = json!({"workflow": "nope"});
    let (status, _) = d
        .call(reqwest::Method::POST, "/api/items", Some(start))
        .await;
    assert_eq!(status, 404);
    let (_, items) = d.call(reqwest::Method::GET, "/api/items", None).await;
    assert_eq!(items, json!([]), "a refused request changed something");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_operators_decide_one_task_and_exactly_one_wins() {
    let d = Daemon::start();
    for _ in 0..5 {
        let item = d.start_item("order").await;
        let task = d.open_task_of(item).await;
        let path = format!("/api/tasks/{task}/decide");
        let body = json!({"decision": "approved"});
        let (a, b) = tokio::join!(
            d.call(reqwest::Method::POST, &path, Some(body.clone())),
            d.call(reqwest::Method::POST, &path, Some(body.clone())),
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
        let (status, _) = d.call(reqwest::Method::POST, &path, Some(body)).await;
        assert_eq!(status, 409);
    }
}

/// Reads SSE records from `/api/events` until `n` arrived.
async fn read_events(d: &Daemon, last_event_id: u64, n: usize) -> Vec<Record> {
    use futures_util::StreamExt;
    let resp = d
        .http()
        .get(format!("{}/api/events", d.url))
        .bearer_auth(&d.token)
        .header("Last-Event-ID", last_event_id.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut body = resp.bytes_stream();
    let mut parser = sse::Parser::default();
    let mut out = Vec::new();
    let read = async {
        while out.len() < n {
            let chunk = body.next().await.unwrap().unwrap();
            for msg in parser.push(&chunk) {
                let rec: Record = serde_json::from_str(&msg.data).unwrap();
                assert_eq!(msg.id, Some(rec.seq.to_string()));
                out.push(rec);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("events did not arrive");
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn events_resume_after_the_last_event_id_and_continue_live() {
    let d = Daemon::start();
    let item = d.start_item("order").await;
    d.open_task_of(item).await;
    let (_, audit) = d.call(reqwest::Method::GET, "/api/audit", None).await;
    let seqs: Vec<u64> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.len() >= 4, "{audit}");
    let from = seqs[seqs.len() / 2];
    let backlog = seqs.iter().filter(|s| **s > from).count();
    let d2 = &d;
    let reader = read_events(d2, from, backlog + 1);
    let starter = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        d.start_item("order").await
    };
    let (records, second) = tokio::join!(reader, starter);
    assert_eq!(records[0].seq, from + 1);
    assert!(records.windows(2).all(|w| w[0].seq < w[1].seq));
    // The first record after the backlog is the second item's start (a chunk may carry
    // more of it).
    let live = &records[backlog];
    assert_eq!(
        (live.event.name(), live.item),
        ("item_started", Some(second))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_report_is_json_per_workflow_and_refuses_a_bad_since() {
    let d = Daemon::start();
    d.start_item("order").await;
    let (status, r) = d.call(reqwest::Method::GET, "/api/report", None).await;
    assert_eq!(status, 200, "{r}");
    let order = r["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["workflow"] == "order")
        .unwrap_or_else(|| panic!("no order in {r}"));
    assert_eq!(order["started"], 1);
    for key in [
        "completed",
        "failed",
        "cancelled",
        "incidents",
        "error_rate",
        "cycle_time_p50_s",
        "cycle_time_p95_s",
        "sla_met_pct",
        "breached",
        "human_tasks",
        "human_wait_p50_s",
        "human_wait_p95_s",
    ] {
        assert!(order.get(key).is_some(), "{key} missing in {order}");
        assert!(r["total"].get(key).is_some(), "{key} missing in the total");
    }
    assert_eq!(r["total"]["started"], 1);
    assert!(r["since"].is_string() && r["until"].is_string(), "{r}");
    let (status, err) = d
        .call(reqwest::Method::GET, "/api/report?since=last%20week", None)
        .await;
    assert_eq!(status, 400, "{err}");
    assert!(
        err.to_string().contains("a date such as 2026-12-01"),
        "{err}"
    );
    // A date is midnight UTC; a window starting after now is refused.
    let (status, r) = d
        .call(reqwest::Method::GET, "/api/report?since=2020-01-01", None)
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["total"]["started"], 1);
    let (status, err) = d
        .call(reqwest::Method::GET, "/api/report?since=2100-01-01", None)
        .await;
    assert_eq!(status, 422, "{err}");
    assert!(err.to_string().contains("is after now"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_exported_for_prometheus() {
    let d = Daemon::start();
    d.start_item("order").await;
    let resp = d
        .http()
        .get(format!("{}/metrics", d.url))
        .bearer_auth(&d.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.unwrap();
    for name in [
        "tempi_items_in_flight",
        "tempi_items_waiting_on_humans",
        "tempi_incidents",
        "tempi_items_at_risk",
        "tempi_items_breached",
        "tempi_items_total{status=\"completed\"}",
        "tempi_workflow_items_started_total{workflow=\"order\"} 1",
        "# TYPE tempi_workflow_cycle_time_seconds histogram",
        "tempi_tasks_open",
        "tempi_steps_total{result=\"succeeded\"}",
        "tempi_journal_seq",
        "# TYPE tempi_items_in_flight gauge",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    // The journal has committed (the start, at least): the counter says so.
    let commits: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("tempi_journal_commits_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no commits counter in\n{text}"));
    assert!(commits >= 1.0, "{commits}");
    let health = d
        .http()
        .get(format!("{}/healthz", d.url))
        .send()
        .await
        .unwrap();
    let body: Value = health.json().await.unwrap();
    assert_eq!(body["state"], "running", "{body}");
    assert!(body["audit"]["verified_seq"].is_u64(), "{body}");
    assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_cleanly_and_removes_daemon_json() {
    let mut d = Daemon::start();
    d.start_item("order").await;
    // An open event stream must not hold the shutdown up (the drain limit is 5 s).
    let stream = d
        .http()
        .get(format!("{}/api/events", d.url))
        .bearer_auth(&d.token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    d.signal(libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(3);
    let status = loop {
        if let Some(status) = d.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "daemon did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    assert!(!d.data.join("daemon.json").exists());
    drop(stream);
    let o = d.cli(&["items"]);
    assert_eq!(o.status.code(), Some(3), "no daemon to ask");
    assert!(
        stderr(&o).contains("no tempi daemon is running for"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_under_load_then_restart_completes_every_item() {
    let mut d = Daemon::start();
    let mut started = 0;
    for _ in 0..25 {
        let batch: Vec<_> = (0..8).map(|_| d.start_item("batch")).collect();
        started += futures_util::future::join_all(batch).await.len();
    }
    assert_eq!(started, 200);
    let (_, m) = d.call(reqwest::Method::GET, "/api/metrics", None).await;
    assert!(
        m["in_flight"].as_u64().unwrap() > 0,
        "nothing in flight to lose: {m}"
    );
    d.signal(libc::SIGKILL);
    let _ = d.child.wait();
    d.restart();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, m) = d.call(reqwest::Method::GET, "/api/metrics", None).await;
        assert_eq!(status, 200);
        if m["completed"] == 200 && m["in_flight"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "not every item completed: {m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, items) = d
        .call(reqwest::Method::GET, "/api/items?status=completed", None)
        .await;
    assert_eq!(items.as_array().unwrap().len(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_follow_prints_the_backlog_then_live_records() {
    use std::io::{BufRead, BufReader};
    let d = Daemon::start();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tempi"))
        .arg("--data")
        .arg(&d.data)
        .args(["audit", "--follow", "--json"])
        .env_remove("TEMPI_URL")
        .env_remove("TEMPI_TOKEN")
        .env_remove("TEMPI_SOCKET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Record>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!((first.seq, first.event.name()), (1, "workflow_loaded"));
    let item = d.start_item("order").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = first.seq;
    loop {
        let rec = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the live item_started did not arrive");
        assert!(
            rec.seq > last,
            "out of order or repeated: {} after {last}",
            rec.seq
        );
        last = rec.seq;
        if rec.event.name() == "item_started" && rec.item == Some(item) {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_daemon_on_the_same_data_dir_is_refused_and_leaves_the_first_alone() {
    let d = Daemon::start();
    let before = std::fs::read_to_string(d.data.join("daemon.json")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tempi"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&d.data)
        .arg("--workflows")
        .arg(&d.wf)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("another tempi engine is already using"),
        "{}",
        stderr(&o)
    );
    let after = std::fs::read_to_string(d.data.join("daemon.json")).unwrap();
    assert_eq!(before, after);
    let items = d.cli_json(&["items", "--json"]);
    assert_eq!(items, json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn ended_items_and_their_records_page_through_the_cli() {
    let d = Daemon::start();
    for n in 0..3 {
        let input = format!(r#"{{"n": {n}}}"#);
        let o = d.cli(&["start", "batch", "--input", &input]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while !d
        .cli_json(&["items", "--json"])
        .as_array()
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the batch items did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
    let ids = |v: &Value| -> Vec<u64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_u64().unwrap())
            .collect()
    };
    // Without paging: every match, a bare array, newest first.
    let all = d.cli_json(&["items", "--all", "--json"]);
    assert_eq!(ids(&all), vec![3, 2, 1]);
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == "completed")
    );
    let first = d.cli_json(&["items", "--all", "--limit", "2", "--json"]);
    assert_eq!(ids(&first), vec![3, 2]);
    let next = d.cli_json(&["items", "--all", "--limit", "2", "--after", "2", "--json"]);
    assert_eq!(ids(&next), vec![1]);
    let done = d.cli_json(&["items", "--status", "completed", "--after", "3", "--json"]);
    assert_eq!(ids(&done), vec![2, 1]);

    let records = d.cli_json(&["audit", "--json"]);
    let n = records.as_array().unwrap().len();
    let page = d.cli_json(&["audit", "--limit", "3", "--after", "2", "--json"]);
    let seqs: Vec<u64> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![3, 4, 5]);
    assert!(n > 5, "{records}");

    // An ended item's detail keeps its shape: summary, input, steps with outputs.
    let detail = d.cli_json(&["item", "2", "--json"]);
    assert_eq!(detail["item"]["input"], json!({ "n": 1 }));
    assert_eq!(detail["item"]["steps"][3]["output"], json!({ "n": 3 }));
    let o = d.cli(&["cancel", "2"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("item 2 has already ended (completed)"),
        "{}",
        stderr(&o)
    );

    let o = d.cli(&["items", "--limit", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn items_are_found_by_business_key_in_flight_and_ended() {
    let d = Daemon::start();
    for n in 0..3 {
        let input = format!(r#"{{"n": {n}}}"#);
        let o = d.cli(&["start", "batch", "--input", &input]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while !d
        .cli_json(&["items", "--json"])
        .as_array()
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the batch items did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
    // One more, still in flight (it waits a second), and one that names nothing.
    let o = d.cli(&["start", "batch", "--input", r#"{"n": 10}"#]);
    assert!(o.status.success(), "{}", stderr(&o));
    d.start_item("order").await;
    let ids = |v: &Value| -> Vec<u64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_u64().unwrap())
            .collect()
    };
    let one = d.cli_json(&["items", "--key", "b-1", "--json"]);
    assert_eq!(ids(&one), [2], "an ended item, case ignored: {one}");
    assert_eq!(one[0]["key"], "B-1");
    assert_eq!(one[0]["title"], "Batch number 1");
    assert_eq!(ids(&d.cli_json(&["items", "--key", "B-10", "--json"])), [4]);
    let prefixed = d.cli_json(&["items", "--key-prefix", "B-1", "--json"]);
    assert_eq!(ids(&prefixed), [4, 2], "in flight and ended, newest first");
    assert_eq!(
        ids(&d.cli_json(&["items", "--key", "B-", "--json"])),
        Vec::<u64>::new()
    );
    let (status, api) = d
        .call(
            reqwest::Method::GET,
            "/api/items?key_prefix=b-&limit=2",
            None,
        )
        .await;
    assert_eq!((status, ids(&api)), (200, vec![4, 3]), "{api}");
    let (_, unnamed) = d
        .call(reqwest::Method::GET, "/api/items?active=true", None)
        .await;
    let order = unnamed
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["workflow"] == "order")
        .unwrap();
    assert!(order.get("key").is_none(), "no key, no field: {order}");

    let o = d.cli(&["items", "--key-prefix", "B-"]);
    let text = String::from_utf8_lossy(&o.stdout);
    let head = text.lines().next().unwrap_or_default();
    assert!(head.contains("KEY") && head.contains("TITLE"), "{text}");
    assert!(
        text.contains("B-2") && text.contains("Batch number 2"),
        "{text}"
    );
    let o = d.cli(&["item", "3"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("key B-2  title Batch number 2"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_stream_positions_leave_the_daemon_answering() {
    let d = Daemon::start();
    // More than 384 records: a position near u64::MAX once wrapped around to there.
    for _ in 0..80 {
        d.start_item("order").await;
    }
    let (_, m) = d.call(reqwest::Method::GET, "/api/metrics", None).await;
    let head = m["journal_seq"].as_u64().unwrap();
    assert!(head > 384, "{m}");
    let journal = m["journal_id"].as_str().unwrap().to_string();
    assert_eq!(journal.len(), 16, "{m}");
    let far = u64::MAX.to_string();
    let stuck: Vec<_> = (0..2)
        .map(|_| {
            d.http()
                .get(format!("{}/api/events?after={far}", d.url))
                .bearer_auth(&d.token)
                .send()
        })
        .collect();
    let stuck = futures_util::future::join_all(stuck).await;
    assert!(
        stuck
            .iter()
            .all(|r| r.as_ref().is_ok_and(|r| r.status() == 200))
    );
    let t = Instant::now();
    let (status, _) = d.call(reqwest::Method::GET, "/api/metrics", None).await;
    assert_eq!(status, 200);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // The change feed refuses positions it cannot resume: past the head, or in
    // another journal.
    let (status, body) = d
        .call(
            reqwest::Method::GET,
            &format!("/api/changes?after={far}"),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (410, Some("resync")),
        "{body}"
    );
    let other = format!("/api/changes?after={head}&journal=0123456789abcdef");
    let (status, body) = d.call(reqwest::Method::GET, &other, None).await;
    assert_eq!(status, 410, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("another data dir"),
        "{body}"
    );
    // On an idle daemon a follower still gets the counters once a second.
    let resp = d
        .http()
        .get(format!(
            "{}/api/changes?after={head}&journal={journal}",
            d.url
        ))
        .bearer_auth(&d.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let mut parser = sse::Parser::default();
    let quiet = tokio::time::timeout(Duration::from_secs(5), async {
        use futures_util::StreamExt;
        loop {
            let chunk = body.next().await.unwrap().unwrap();
            for msg in parser.push(&chunk) {
                assert_eq!(msg.event.as_deref(), Some("changes"), "{msg:?}");
                let batch: Value = serde_json::from_str(&msg.data).unwrap();
                if batch["lines"] == json!([]) {
                    return batch;
                }
            }
        }
    })
    .await
    .expect("a quiet batch within seconds");
    assert_eq!(quiet["metrics"]["journal_id"], journal.as_str());
    assert_eq!(quiet["items"], json!([]));
    drop(stuck);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_never_prints_terminal_escapes_that_came_with_data() {
    let d = Daemon::start();
    let evil = "\u{1b}[2J\u{1b}]0;owned\u{7}\r\nforged line";
    let input = json!({ "n": evil }).to_string();
    let o = d.cli(&["start", "order", "--input", &input]);
    assert!(o.status.success(), "{}", stderr(&o));
    let items = d.cli_json(&["items", "--json"]);
    let item = items[0]["id"].as_u64().unwrap();
    let task = d.open_task_of(item).await;
    // A task's title is display text, made one clean line when the task is made; the
    // item's input keeps the data exactly (JSON escapes it).
    let tasks = d.cli_json(&["tasks", "--json"]);
    assert_eq!(tasks[0]["title"], "Approve order [2J ]0;owned forged line");
    let shown = d.cli_json(&["item", &item.to_string(), "--json"]);
    assert_eq!(shown["item"]["input"]["n"], evil, "{shown}");
    let comment = format!("fine{evil}");
    let o = d.cli(&["approve", &task.to_string(), "--comment", &comment]);
    assert!(o.status.success(), "{}", stderr(&o));
    for args in [
        vec!["tasks", "--all"],
        vec!["items", "--all"],
        vec!["audit"],
        vec!["item", &item.to_string()],
    ] {
        let o = d.cli(&args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            !out.chars().any(|c| c.is_control() && c != '\n'),
            "{args:?} printed a control character: {out:?}"
        );
        assert!(
            !out.lines().any(|l| l.starts_with("forged line")),
            "{args:?} let data start a line of its own: {out}"
        );
    }
}

/// `tempi serve` with the debug build's `TEMPI_TEST_FAULT` (the journal fails from the
/// N-th commit on): (child with piped stderr, url, token).
fn spawn_faulty(data: &Path, wf: &Path, fault: &str) -> (Child, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tempi"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .arg("--workflows")
        .arg(wf)
        .env("TEMPI_TEST_FAULT", fault)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let up = common::wait_up(&mut child, data);
    (child, up.url, up.token)
}

fn faulty_dirs() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let wf = tmp.path().join("wf");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(wf.join("order.yaml"), FLOW).unwrap();
    let data = tmp.path().join("data");
    (tmp, data, wf)
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tempi serve still running after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_exits_non_zero_with_the_reason_when_a_journal_fsync_fails() {
    let (_tmp, data, wf) = faulty_dirs();
    let (mut child, url, token) = spawn_faulty(&data, &wf, "fsync@2");
    let http = reqwest::Client::new();
    let post = http
        .post(format!("{url}/api/items"))
        .bearer_auth(&token)
        .json(&json!({ "workflow": "order" }))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 503);
    let body: Value = post.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("page cache can no longer be trusted"),
        "{body}"
    );
    let status = wait_exit(&mut child, Duration::from_secs(15));
    assert!(!status.success(), "{status:?}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("page cache can no longer be trusted"),
        "{stderr}"
    );
    assert!(stderr.contains("journal.db"), "the path is named: {stderr}");
    assert!(!data.join("daemon.json").exists(), "daemon.json removed");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_on_a_full_disk_answers_healthz_503_refuses_work_and_keeps_serving_reads() {
    let (_tmp, data, wf) = faulty_dirs();
    let (mut child, url, token) = spawn_faulty(&data, &wf, "full@2");
    let http = reqwest::Client::new();
    let health = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    for _ in 0..2 {
        let post = http
            .post(format!("{url}/api/items"))
            .bearer_auth(&token)
            .json(&json!({ "workflow": "order" }))
            .send()
            .await
            .unwrap();
        assert_eq!(post.status(), 503);
        let body: Value = post.json().await.unwrap();
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("the disk is full at"),
            "{body}"
        );
    }
    let health = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 503);
    let body: Value = health.json().await.unwrap();
    assert_eq!(body["state"], "refusing", "{body}");
    for path in ["/api/items", "/api/tasks", "/api/metrics", "/api/workflows"] {
        let read = http
            .get(format!("{url}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), 200, "{path}");
    }
    let metrics = http
        .get(format!("{url}/metrics"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("tempi_engine_state{state=\"refusing\"} 1")
            && metrics.contains("tempi_engine_state{state=\"running\"} 0"),
        "{metrics}"
    );
    assert!(child.try_wait().unwrap().is_none(), "still serving");
    let pid = child.id() as libc::pid_t;
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = wait_exit(&mut child, Duration::from_secs(15));
    assert!(status.success(), "{status:?}");
}

/// `/healthz` until `done` says yes of it (at most 20 s).
async fn health_until(d: &Daemon, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let health = d.http().get(format!("{}/healthz", d.url)).send().await;
        if let Ok(h) = health {
            let body: Value = h.json().await.unwrap_or_default();
            if done(&body) {
                return body;
            }
            assert!(Instant::now() < deadline, "never: {body}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_chain_verifies_beside_the_daemon_and_a_tampered_journal_is_found() {
    let mut d = Daemon::start();
    for _ in 0..3 {
        d.start_item("batch").await;
    }
    d.start_item("order").await;
    // Read from the journal file while the daemon writes it.
    let o = d.cli(&["audit", "--verify"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.starts_with("audit verified: "), "{out}");
    let anchor = d.cli_json(&["audit", "--anchor", "--json"]);
    let seq = anchor["head"]["seq"].as_u64().unwrap();
    assert!(seq > 4, "{anchor}");
    let export = d.data.with_file_name("audit.jsonl");
    let o = d.cli(&["audit", "--export", export.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The daemon's own check gets there too, and says so.
    let health = health_until(&d, |h| h["audit"]["verified_seq"].as_u64() >= Some(seq)).await;
    assert_eq!(health["state"], "running", "{health}");

    // An edit while it runs: `--verify` names it at once.
    let journal = d.data.join("journal.db");
    let conn = rusqlite::Connection::open(&journal).unwrap();
    conn.execute(
        "UPDATE events SET body = replace(body, '\"n\":1', '\"n\":2') WHERE seq = 3",
        [],
    )
    .unwrap();
    assert_eq!(conn.changes(), 1, "seq 3 has an n to change");
    drop(conn);
    let o = d.cli(&["audit", "--verify"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("failed at seq 3: its body was changed"),
        "{}",
        stderr(&o)
    );
    // The export made before still checks on its own.
    let o = d.cli(&["audit", "--check", export.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));

    // A restart verifies from the start, beside serving: the break shows everywhere.
    d.signal(libc::SIGTERM);
    let _ = d.child.wait();
    d.restart();
    let health = health_until(&d, |h| h["audit"]["broken"].is_object()).await;
    assert_eq!(health["audit"]["broken"]["seq"], 3, "{health}");
    assert_eq!(health["audit"]["verified_seq"], 2, "{health}");
    assert_eq!(health["state"], "running", "the engine still takes work");
    let (status, metrics) = d.call(reqwest::Method::GET, "/api/metrics", None).await;
    assert_eq!(status, 200);
    assert_eq!(metrics["audit"]["broken"]["seq"], 3, "{metrics}");
    let text = d
        .http()
        .get(format!("{}/metrics", d.url))
        .bearer_auth(&d.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("\ntempi_audit_broken 1\n"), "{text}");
    assert!(text.contains("\ntempi_audit_verified_seq 2\n"), "{text}");
}
