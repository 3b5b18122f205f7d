//! The daemon against its own OpenAPI document: schemathesis (PyPI; CI installs it and
//! this test fails without it there) fuzzes every route but the endless event streams,
//! on a daemon with items in flight, open and decided tasks and an incident. No 5xx, no
//! answer the document does not describe, and a refused request changes nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Daemon, FLOW};

/// A task with named options and a form, then a wait for a signal.
const REVIEW: &str = r#"name: review
version: 1
steps:
  - id: check
    kind: human
    title: "Review {{ input.n }}"
    group: ops
    options: [accept, deny]
    form:
      - { name: amount, type: number, required: true }
      - { name: note, type: string }
  - id: after
    kind: wait
    needs: [check]
    signal: go
"#;

/// A step that fails at once, after one that can be undone: an incident.
const FLAKY: &str = r#"name: flaky
version: 1
steps:
  - id: prep
    kind: pass
    output: { n: 1 }
    compensate: { kind: pass, output: { undone: true } }
  - id: fail
    kind: shell
    needs: [prep]
    run: ["false"]
    retry: { attempts: 1 }
"#;

/// Items of each workflow the daemon is given before the fuzzing starts.
const ITEMS: usize = 8;
/// The seed of both runs, so CI is repeatable; `TEMPI_FUZZ_SEED` tries another.
const SEED: &str = "20261201";
/// Test cases per operation and phase: ~40 s for the whole run in a debug build.
const EXAMPLES: &str = "40";
/// Longer than this and the run is killed and the test fails.
const PATIENCE: Duration = Duration::from_secs(300);

/// schemathesis on PATH, or None (with a note) when it is not installed outside CI.
fn schemathesis() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("schemathesis"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let required = ["CI", "TEMPI_REQUIRE_TOOLS"]
            .iter()
            .any(|v| std::env::var_os(v).is_some());
        assert!(
            !required,
            "schemathesis is not installed (.ci/run installs it from PyPI)"
        );
        eprintln!(
            "note: schemathesis is not installed, so the API is not fuzzed against its \
             OpenAPI document (python3 -m pip install 'schemathesis>=4,<5')"
        );
    }
    found
}

/// What the daemon holds: its items (in flight and ended), tasks and journal head.
async fn state(d: &Daemon) -> Value {
    let get = |path: &'static str| d.call(reqwest::Method::GET, path, None);
    let (s1, items) = get("/api/items").await;
    let (s2, ended) = get("/api/items?ended=true").await;
    let (s3, tasks) = get("/api/tasks?all=true").await;
    let (s4, metrics) = get("/api/metrics").await;
    assert_eq!([s1, s2, s3, s4], [200; 4]);
    json!({ "items": items, "ended": ended, "tasks": tasks, "head": metrics["journal_seq"] })
}

/// Wait until no item runs (each waits on a task, a signal or an operator).
async fn settled(d: &Daemon) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = state(d).await;
        let running = now["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["status"] == "running");
        if !running && state(d).await == now {
            return now;
        }
        assert!(Instant::now() < deadline, "items still running: {now}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Items of every kind: waiting on open tasks, one decided, one cancelled, incidents.
async fn populate(d: &Daemon) -> (Vec<u64>, Vec<u64>) {
    let mut items = Vec::new();
    // Enough that the fuzzer's own decisions leave some for the later operations.
    for wf in ["order", "review", "flaky"] {
        for _ in 0..ITEMS {
            items.push(d.start_item(wf).await);
        }
    }
    let mut tasks = Vec::new();
    for item in &items[..2 * ITEMS] {
        tasks.push(d.open_task_of(*item).await);
    }
    let decide = format!("/api/tasks/{}/decide", tasks[0]);
    let body = json!({ "decision": "approved" });
    let (status, reply) = d.call(reqwest::Method::POST, &decide, Some(body)).await;
    assert_eq!(status, 200, "{reply}");
    let cancel = format!("/api/items/{}/cancel", items[1]);
    let (status, reply) = d.call(reqwest::Method::POST, &cancel, None).await;
    assert_eq!(status, 200, "{reply}");
    let now = settled(d).await;
    let incidents = now["items"].as_array().unwrap().iter();
    let incidents = incidents.filter(|i| i["status"] == "incident").count();
    assert_eq!(incidents, ITEMS, "{now}");
    (items, tasks)
}

/// schemathesis's config: the real ids, names and options beside what it makes up, so
/// it reaches the engine's rules and not only "not found".
fn config(dir: &Path, items: &[u64], tasks: &[u64]) -> PathBuf {
    let list = |v: &[u64]| {
        let v: Vec<String> = v.iter().map(u64::to_string).collect();
        v.join(", ")
    };
    let text = format!(
        r#"[dictionaries.items]
values = [{items}]
[dictionaries.tasks]
values = [{tasks}]
[dictionaries.workflows]
values = ["order", "review", "flaky"]
[dictionaries.decisions]
values = ["approved", "rejected", "accept", "deny"]
[dictionaries.steps]
values = ["prep", "fail", "ok", "check", "after"]

[[operations]]
include-path-regex = "^/api/items/[{{]id[}}]"
parameters = {{ "path.id" = {{ dictionary = "items", probability = 0.5 }} }}

[[operations]]
include-path-regex = "^/api/tasks/[{{]id[}}]"
parameters = {{ "path.id" = {{ dictionary = "tasks", probability = 0.5 }} }}

[[operations]]
include-path-regex = "^/api/(items|commands)"
parameters = {{ "body.workflow" = {{ dictionary = "workflows", probability = 0.5 }}, "body.item" = {{ dictionary = "items", probability = 0.5 }}, "body.task" = {{ dictionary = "tasks", probability = 0.5 }}, "body.decision" = {{ dictionary = "decisions", probability = 0.5 }}, "body.step" = {{ dictionary = "steps", probability = 0.5 }}, "body.from" = {{ dictionary = "steps", probability = 0.5 }} }}

[[operations]]
include-path-regex = "^/api/tasks/[{{]id[}}]/decide"
parameters = {{ "body.decision" = {{ dictionary = "decisions", probability = 0.7 }} }}
"#,
        items = list(items),
        tasks = list(tasks),
    );
    let path = dir.join("schemathesis.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// One run of schemathesis against the daemon, with `auth` as the Authorization header.
fn run(tool: &Path, d: &Daemon, dir: &Path, auth: &str, log: &Path) -> Output {
    let seed = std::env::var("TEMPI_FUZZ_SEED").unwrap_or_else(|_| SEED.into());
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis/hooks.py");
    let mut child = Command::new(tool)
        .arg("--config-file")
        .arg(dir.join("schemathesis.toml"))
        .args(["run", &format!("{}/api/openapi.json", d.url)])
        .args(["--header", &format!("Authorization: {auth}")])
        .args(["--checks", "all", "--workers", "1", "--seed", &seed])
        .args(["--max-examples", EXAMPLES, "--generation-database", "none"])
        .args([
            "--exclude-path",
            "/api/events",
            "--exclude-path",
            "/api/changes",
        ])
        .args(["--no-color", "--request-timeout", "10"])
        .current_dir(dir)
        .env("SCHEMATHESIS_HOOKS", &hooks)
        .env("TEMPI_FUZZ_URL", &d.url)
        .env("TEMPI_FUZZ_TOKEN", &d.token)
        .env("TEMPI_FUZZ_LOG", log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run schemathesis");
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    child.wait_with_output().unwrap()
}

/// The run's report: all of it for a failure message; its summary is printed.
fn report(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.rfind("SUMMARY").map_or("", |at| &stdout[at..]);
    eprintln!("schemathesis: {summary}");
    format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr))
}

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_server_error_no_undocumented_answer_and_no_change_on_refusal() {
    let Some(tool) = schemathesis() else {
        return;
    };
    let d = Daemon::with(&[("order", FLOW), ("review", REVIEW), ("flaky", FLAKY)]);
    let (items, tasks) = populate(&d).await;
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &items, &tasks);
    let log = dir.path().join("refusals.jsonl");

    // A wrong token: every request but /healthz and the document itself is refused, and
    // everything the daemon holds is as it was.
    let before = settled(&d).await;
    let out = run(&tool, &d, dir.path(), "Bearer not-the-token", &log);
    let text = report(&out);
    assert!(out.status.success(), "{text}");
    assert_eq!(
        settled(&d).await,
        before,
        "a refused request changed something"
    );

    // The daemon's token, every check.
    let out = run(&tool, &d, dir.path(), &format!("Bearer {}", d.token), &log);
    let text = report(&out);
    let refusals = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        refusals.is_empty(),
        "refused, yet journaled: {refusals}\n{text}"
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains(" passed"), "{text}");
    let (status, health) = d.call(reqwest::Method::GET, "/healthz", None).await;
    assert_eq!((status, &health["state"]), (200, &json!("running")));
}
